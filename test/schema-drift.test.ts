// The live schema matches schema.prisma. The migrations are hand-written SQL (the schema engine
// cannot be downloaded here), so nothing else proves that what they build is what the Prisma
// client is generated from. This file applies them to a fresh database of its own and compares
// information_schema with Prisma's own reading of prisma/schema.prisma (the DMMF from the
// prisma-schema-wasm inside the prisma CLI; see helpers/prisma-dmmf.ts), mapped to MariaDB types by
// the rules `prisma migrate` follows. A second test feeds the comparator altered copies of the
// schema (and alters the database) to prove that drift is caught, not just that the two agree.
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import mysql, { type RowDataPacket } from 'mysql2/promise'
import { applyMigrations, dropDatabase, ensureDatabase, parseDatabaseUrl } from '@comfy-jobs/db'
import { getDmmf, type Dmmf, type DmmfField, type DmmfModel } from './helpers/prisma-dmmf.ts'

const SCHEMA_PATH = fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url))
/** MySQL/MariaDB identifier limit, which Prisma's default constraint names are truncated to */
const MAX_IDENTIFIER = 64

// ---------------------------------------------------------------------------------------------
// The shape both sides are reduced to

interface ColumnShape {
  /** e.g. `varchar(36)`, `int unsigned`, `tinyint(1)`, `datetime(3)`, `json`, `enum('a','b')` */
  type: string
  nullable: boolean
  /** canonical: null (no default), `'text'`, `0`, `current_timestamp(3)` */
  default: string | null
  /** `auto_increment` or '' */
  extra: string
}

interface IndexShape {
  kind: 'unique' | 'normal' | 'fulltext' | 'spatial'
  /** in order, with `(length)` and ` DESC` when set */
  columns: string[]
}

interface ForeignKeyShape {
  columns: string[]
  referencedTable: string
  referencedColumns: string[]
  onDelete: string
  onUpdate: string
}

interface TableShape {
  columns: Record<string, ColumnShape>
  primaryKey: string[]
  indexes: Record<string, IndexShape>
  foreignKeys: Record<string, ForeignKeyShape>
}

type SchemaShape = Record<string, TableShape>

// ---------------------------------------------------------------------------------------------
// schema.prisma → shape, following Prisma Migrate's MySQL rendering

function constraintName (table: string, columns: string[], suffix: '_key' | '_idx' | '_fkey'): string {
  // psl-core ConstraintNames: `{table}_{cols joined by _}`, truncated so that name + suffix fits
  let base = `${table}_${columns.join('_')}`
  if (base.length >= MAX_IDENTIFIER - suffix.length) base = base.slice(0, MAX_IDENTIFIER - suffix.length)
  return base + suffix
}

const tableOf = (m: DmmfModel): string => m.dbName ?? m.name
const columnOf = (f: DmmfField): string => f.dbName ?? f.name

/** Prisma's default MySQL type for a scalar without @db.* */
const DEFAULT_TYPES: Record<string, string> = {
  String: 'varchar(191)',
  Boolean: 'tinyint(1)',
  Int: 'int',
  BigInt: 'bigint',
  Float: 'double',
  Decimal: 'decimal(65,30)',
  DateTime: 'datetime(3)',
  Json: 'json',
  Bytes: 'longblob'
}

const INTEGER_NATIVE: Record<string, string> = {
  TinyInt: 'tinyint',
  UnsignedTinyInt: 'tinyint unsigned',
  SmallInt: 'smallint',
  UnsignedSmallInt: 'smallint unsigned',
  MediumInt: 'mediumint',
  UnsignedMediumInt: 'mediumint unsigned',
  Int: 'int',
  UnsignedInt: 'int unsigned',
  BigInt: 'bigint',
  UnsignedBigInt: 'bigint unsigned'
}

const sqlString = (s: string): string => `'${s.replace(/'/g, "''")}'`

function datetimePrecision (f: DmmfField): number {
  const [native, args] = f.nativeType ?? [null, []]
  if (native === 'DateTime' || native === 'Timestamp' || native === 'Time') return Number(args[0] ?? 0)
  return 3
}

function expectedType (f: DmmfField, dmmf: Dmmf): string {
  if (f.kind === 'enum') {
    const e = dmmf.datamodel.enums.find(e => e.name === f.type)
    if (!e) throw new Error(`enum ${f.type} of field ${f.name} is not in the DMMF`)
    return `enum(${e.values.map(v => sqlString(v.dbName ?? v.name)).join(',')})`
  }
  if (!f.nativeType) {
    const type = DEFAULT_TYPES[f.type]
    if (!type) throw new Error(`no MySQL mapping for Prisma type ${f.type} (field ${f.name}); extend DEFAULT_TYPES`)
    return type
  }
  const [native, args] = f.nativeType
  if (native === 'TinyInt' && f.type === 'Boolean') return 'tinyint(1)'
  if (INTEGER_NATIVE[native]) return INTEGER_NATIVE[native]
  switch (native) {
    case 'Char': case 'VarChar': case 'Binary': case 'VarBinary': case 'Bit':
      return `${native.toLowerCase()}(${args[0]})`
    case 'Decimal':
      return `decimal(${args[0] ?? 65},${args[1] ?? 30})`
    case 'DateTime': case 'Timestamp': case 'Time':
      return `${native.toLowerCase()}(${args[0] ?? 0})`
    case 'Float': case 'Double': case 'Date': case 'Year': case 'Json':
    case 'TinyText': case 'Text': case 'MediumText': case 'LongText':
    case 'TinyBlob': case 'Blob': case 'MediumBlob': case 'LongBlob':
      return native.toLowerCase()
  }
  throw new Error(`no MySQL mapping for native type @db.${native} (field ${f.name}); extend expectedType`)
}

function canonicalNumber (s: string): string | null {
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s.trim()) ? String(Number(s)) : null
}

/** The database default Prisma Migrate renders for a field, canonical form. */
function expectedDefault (f: DmmfField, dmmf: Dmmf): { default: string | null, extra: string } {
  const d = f.default
  if (d === undefined || d === null) return { default: null, extra: '' }
  if (typeof d === 'object' && !Array.isArray(d) && 'name' in d) {
    const fn = d as { name: string, args: unknown[] }
    switch (fn.name) {
      case 'autoincrement': return { default: null, extra: 'auto_increment' }
      case 'now': return { default: `current_timestamp(${datetimePrecision(f)})`, extra: '' }
      // generated by the client, not the database
      case 'uuid': case 'cuid': case 'nanoid': case 'ulid': return { default: null, extra: '' }
      case 'dbgenerated': return { default: normaliseExpression(String(fn.args[0] ?? '')), extra: '' }
    }
    throw new Error(`no mapping for @default(${fn.name}()) on ${f.name}; extend expectedDefault`)
  }
  if (f.kind === 'enum') {
    const e = dmmf.datamodel.enums.find(e => e.name === f.type)
    const v = e?.values.find(v => v.name === d)
    return { default: sqlString(v?.dbName ?? String(d)), extra: '' }
  }
  if (typeof d === 'boolean') return { default: d ? '1' : '0', extra: '' }
  if (typeof d === 'number') return { default: String(d), extra: '' }
  if (typeof d === 'string') {
    const numeric = ['Int', 'BigInt', 'Float', 'Decimal'].includes(f.type) ? canonicalNumber(d) : null
    return { default: numeric ?? sqlString(d), extra: '' }
  }
  return { default: sqlString(JSON.stringify(d)), extra: '' }
}

function normaliseExpression (expr: string): string {
  let e = expr.trim().toLowerCase().replace(/\s+/g, '')
  while (e.startsWith('(') && e.endsWith(')')) e = e.slice(1, -1)
  return e
}

const REFERENTIAL_ACTIONS: Record<string, string> = {
  Cascade: 'CASCADE',
  Restrict: 'RESTRICT',
  NoAction: 'NO ACTION',
  SetNull: 'SET NULL',
  SetDefault: 'SET DEFAULT'
}

function expectedShape (dmmf: Dmmf): SchemaShape {
  const shape: SchemaShape = {}
  const models = new Map(dmmf.datamodel.models.map(m => [m.name, m]))
  for (const model of dmmf.datamodel.models) {
    const table: TableShape = { columns: {}, primaryKey: [], indexes: {}, foreignKeys: {} }
    const fieldColumn = (name: string, m: DmmfModel = model): string => {
      const f = m.fields.find(f => f.name === name)
      if (!f) throw new Error(`field ${m.name}.${name} is not in the DMMF`)
      return columnOf(f)
    }
    for (const f of model.fields) {
      if (f.kind === 'object') continue
      if (f.isList) throw new Error(`scalar lists are not supported on MySQL (${model.name}.${f.name})`)
      const def = expectedDefault(f, dmmf)
      table.columns[columnOf(f)] = { type: expectedType(f, dmmf), nullable: !f.isRequired, default: def.default, extra: def.extra }
    }
    for (const idx of dmmf.datamodel.indexes.filter(i => i.model === model.name)) {
      const cols = idx.fields.map(x => fieldColumn(x.name))
      if (idx.type === 'id') {
        table.primaryKey = cols
        continue
      }
      const name = idx.dbName ?? constraintName(tableOf(model), cols, idx.type === 'unique' ? '_key' : '_idx')
      table.indexes[name] = {
        kind: idx.type,
        columns: idx.fields.map((x, i) => cols[i] + (x.length ? `(${x.length})` : '') + (x.sortOrder === 'desc' ? ' DESC' : ''))
      }
    }
    for (const f of model.fields) {
      if (f.kind !== 'object' || !f.relationFromFields?.length) continue
      const target = models.get(f.type)
      if (!target) throw new Error(`relation ${model.name}.${f.name} points at unknown model ${f.type}`)
      const cols = f.relationFromFields.map(n => fieldColumn(n))
      const required = f.relationFromFields.every(n => model.fields.find(x => x.name === n)?.isRequired)
      // Prisma's defaults: onDelete Restrict (SetNull when optional), onUpdate Cascade. The DMMF does
      // not carry @relation(map:), so the name is the convention's.
      table.foreignKeys[constraintName(tableOf(model), cols, '_fkey')] = {
        columns: cols,
        referencedTable: tableOf(target),
        referencedColumns: (f.relationToFields ?? []).map(n => fieldColumn(n, target)),
        onDelete: REFERENTIAL_ACTIONS[f.relationOnDelete ?? (required ? 'Restrict' : 'SetNull')],
        onUpdate: REFERENTIAL_ACTIONS[f.relationOnUpdate ?? 'Cascade']
      }
    }
    shape[tableOf(model)] = table
  }
  return shape
}

// ---------------------------------------------------------------------------------------------
// information_schema → shape

function canonicalLiveDefault (raw: string | null): string | null {
  // MariaDB: NULL = no default on a NOT NULL column, 'NULL' = "DEFAULT NULL", literals are quoted
  if (raw === null || raw === 'NULL') return null
  const ts = /^current_timestamp(?:\((\d*)\))?$/i.exec(raw.trim())
  if (ts) return `current_timestamp(${ts[1] || 0})`
  if (raw.startsWith("'")) return raw
  return canonicalNumber(raw) ?? normaliseExpression(raw)
}

function liveType (c: RowDataPacket, jsonColumns: Set<string>): string {
  const dt = String(c.DATA_TYPE).toLowerCase()
  const ct = String(c.COLUMN_TYPE).toLowerCase()
  const unsigned = /\bunsigned\b/.test(ct) ? ' unsigned' : ''
  switch (dt) {
    case 'tinyint':
      if (ct === 'tinyint(1)') return 'tinyint(1)'
      return dt + unsigned
    case 'smallint': case 'mediumint': case 'int': case 'bigint': case 'float': case 'double':
      return dt + unsigned
    case 'decimal':
      return `decimal(${c.NUMERIC_PRECISION},${c.NUMERIC_SCALE})${unsigned}`
    case 'char': case 'varchar': case 'binary': case 'varbinary': case 'bit':
      return /^\w+\(\d+\)/.exec(ct)?.[0] ?? ct
    case 'datetime': case 'timestamp': case 'time':
      return `${dt}(${c.DATETIME_PRECISION ?? 0})`
    case 'enum':
      return ct
    case 'longtext':
      // MariaDB's JSON is an alias: LONGTEXT with a json_valid() CHECK on the column
      return jsonColumns.has(String(c.COLUMN_NAME)) ? 'json' : 'longtext'
    default:
      return dt
  }
}

async function liveShape (pool: mysql.Pool, database: string): Promise<SchemaShape> {
  const q = async (sql: string): Promise<RowDataPacket[]> => (await pool.query<RowDataPacket[]>(sql, [database]))[0]
  const [tables, columns, checks, stats, keyUsage, referential] = await Promise.all([
    q(`SELECT TABLE_NAME FROM information_schema.TABLES
       WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME <> '_prisma_migrations'`),
    q(`SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA,
              NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`),
    q('SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?'),
    q(`SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, COLLATION, INDEX_TYPE
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`),
    q(`SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
       FROM information_schema.KEY_COLUMN_USAGE
       WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION`),
    q(`SELECT TABLE_NAME, CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE
       FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?`)
  ])
  const shape: SchemaShape = {}
  for (const row of tables) shape[row.TABLE_NAME] = { columns: {}, primaryKey: [], indexes: {}, foreignKeys: {} }
  const jsonColumns = (table: string): Set<string> => new Set(checks
    .filter(c => c.TABLE_NAME === table)
    .map(c => /^json_valid\(`?([^`)]+)`?\)$/i.exec(String(c.CHECK_CLAUSE).trim())?.[1])
    .filter((x): x is string => x !== undefined))
  for (const c of columns) {
    const table = shape[c.TABLE_NAME]
    if (!table) continue
    table.columns[c.COLUMN_NAME] = {
      type: liveType(c, jsonColumns(c.TABLE_NAME)),
      nullable: c.IS_NULLABLE === 'YES',
      default: canonicalLiveDefault(c.COLUMN_DEFAULT),
      extra: String(c.EXTRA).trim().toLowerCase()
    }
  }
  for (const s of stats) {
    const table = shape[s.TABLE_NAME]
    if (!table) continue
    if (s.INDEX_NAME === 'PRIMARY') {
      table.primaryKey.push(s.COLUMN_NAME)
      continue
    }
    const type = String(s.INDEX_TYPE).toLowerCase()
    const idx = table.indexes[s.INDEX_NAME] ??= {
      kind: type === 'fulltext' ? 'fulltext' : type === 'spatial' ? 'spatial' : Number(s.NON_UNIQUE) === 0 ? 'unique' : 'normal',
      columns: []
    }
    idx.columns.push(s.COLUMN_NAME + (s.SUB_PART ? `(${s.SUB_PART})` : '') + (s.COLLATION === 'D' ? ' DESC' : ''))
  }
  for (const k of keyUsage) {
    const table = shape[k.TABLE_NAME]
    if (!table) continue
    const rc = referential.find(r => r.TABLE_NAME === k.TABLE_NAME && r.CONSTRAINT_NAME === k.CONSTRAINT_NAME)
    const fk = table.foreignKeys[k.CONSTRAINT_NAME] ??= {
      columns: [],
      referencedTable: k.REFERENCED_TABLE_NAME,
      referencedColumns: [],
      onDelete: String(rc?.DELETE_RULE),
      onUpdate: String(rc?.UPDATE_RULE)
    }
    fk.columns.push(k.COLUMN_NAME)
    fk.referencedColumns.push(k.REFERENCED_COLUMN_NAME)
  }
  // InnoDB adds an index named after a foreign key when no index covers its columns; Prisma's
  // differ does not count it as drift, and neither do we.
  for (const table of Object.values(shape)) {
    for (const [name, fk] of Object.entries(table.foreignKeys)) {
      const idx = table.indexes[name]
      if (idx?.kind === 'normal' && idx.columns.join() === fk.columns.join()) delete table.indexes[name]
    }
  }
  return shape
}

// ---------------------------------------------------------------------------------------------
// The comparison: a list of human-readable differences, empty when there is no drift

function diffShapes (expected: SchemaShape, actual: SchemaShape): string[] {
  const out: string[] = []
  const show = (v: unknown): string => JSON.stringify(v)
  const compareSet = <T>(what: string, exp: Record<string, T>, act: Record<string, T>, fields: Array<keyof T>): void => {
    for (const key of Object.keys(exp)) {
      if (!(key in act)) { out.push(`${what} ${key}: declared in schema.prisma, missing in the database`); continue }
      for (const f of fields) {
        if (show(exp[key][f]) !== show(act[key][f])) {
          out.push(`${what} ${key} ${String(f)}: schema.prisma says ${show(exp[key][f])}, the database has ${show(act[key][f])}`)
        }
      }
    }
    for (const key of Object.keys(act)) {
      if (!(key in exp)) out.push(`${what} ${key}: in the database (${show(act[key])}), not in schema.prisma`)
    }
  }
  for (const name of Object.keys(expected)) {
    if (!(name in actual)) out.push(`table ${name}: declared in schema.prisma, missing in the database`)
  }
  for (const name of Object.keys(actual)) {
    if (!(name in expected)) out.push(`table ${name}: in the database, not in schema.prisma`)
  }
  for (const name of Object.keys(expected).filter(n => n in actual)) {
    const exp = expected[name]
    const act = actual[name]
    const prefix = (r: Record<string, unknown>): Record<string, unknown> =>
      Object.fromEntries(Object.entries(r).map(([k, v]) => [`${name}.${k}`, v]))
    compareSet('column', prefix(exp.columns) as Record<string, ColumnShape>, prefix(act.columns) as Record<string, ColumnShape>,
      ['type', 'nullable', 'default', 'extra'])
    if (show(exp.primaryKey) !== show(act.primaryKey)) {
      out.push(`primary key of ${name}: schema.prisma says ${show(exp.primaryKey)}, the database has ${show(act.primaryKey)}`)
    }
    compareSet(`index on ${name}`, exp.indexes, act.indexes, ['kind', 'columns'])
    compareSet(`foreign key on ${name}`, exp.foreignKeys, act.foreignKeys,
      ['columns', 'referencedTable', 'referencedColumns', 'onDelete', 'onUpdate'])
  }
  return out
}

// ---------------------------------------------------------------------------------------------

const base = parseDatabaseUrl(process.env.TEST_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/comfy_jobs_test')
const loc = { ...base, database: `cj_test_drift_${randomBytes(4).toString('hex')}` }
let pool: mysql.Pool
let schemaText: string
let live: SchemaShape

t.before(async () => {
  schemaText = await readFile(SCHEMA_PATH, 'utf8')
  await ensureDatabase(loc)
  pool = mysql.createPool({ ...loc, connectionLimit: 2 })
  await applyMigrations(pool)
  live = await liveShape(pool, loc.database)
})

t.teardown(async () => {
  await pool?.end()
  await dropDatabase(loc)
})

t.test('the live schema matches schema.prisma', async t => {
  const expected = expectedShape(getDmmf(schemaText))
  // guard against comparing two empty readings
  t.ok(Object.keys(expected).length > 0, 'schema.prisma declares tables')
  t.strictSame(Object.keys(expected).sort(), Object.keys(live).sort(), 'the same tables')
  for (const [name, table] of Object.entries(expected)) {
    t.ok(Object.keys(table.columns).length > 0 && table.primaryKey.length > 0, `${name} has columns and a primary key`)
  }
  const diff = diffShapes(expected, live)
  t.strictSame(diff, [], 'no drift between the migrated database and schema.prisma')
  // the details, for a readable failure
  if (diff.length > 0) t.same(live, expected, 'live shape vs schema.prisma shape')
})

t.test('the comparison catches drift', async t => {
  const clean = diffShapes(expectedShape(getDmmf(schemaText)), live)
  t.strictSame(clean, [], 'the unaltered schema has no drift (precondition)')

  const alter = (from: string | RegExp, to: string): string => {
    const changed = schemaText.replace(from, to)
    if (changed === schemaText) throw new Error(`schema.prisma no longer contains ${String(from)}; update this test`)
    return changed
  }
  const cases: Array<{ what: string, schema: string, expect: RegExp }> = [
    {
      what: 'a field added to schema.prisma without a migration',
      schema: alter(/(\n\s*outputs\s+Output\[\])/, '\n  priority   Int       @default(0) @db.UnsignedTinyInt$1'),
      expect: /column jobs\.priority: declared in schema\.prisma, missing in the database/
    },
    {
      what: 'a changed length',
      schema: alter(/(workflow\s+String\s+)@db\.VarChar\(64\)/, '$1@db.VarChar(65)'),
      expect: /column jobs\.workflow type: schema\.prisma says "varchar\(65\)", the database has "varchar\(64\)"/
    },
    {
      what: 'signed instead of unsigned',
      schema: alter(/(attempts\s+Int\s+@default\(0\)\s+)@db\.UnsignedInt/, '$1@db.Int'),
      expect: /column jobs\.attempts type: schema\.prisma says "int", the database has "int unsigned"/
    },
    {
      what: 'an optional field made required',
      schema: alter(/(error\s+)String\?/, '$1String '),
      expect: /column jobs\.error nullable/
    },
    {
      what: 'a changed default',
      schema: alter(/(progress\s+Int\s+)@default\(0\)/, '$1@default(1)'),
      expect: /column jobs\.progress default: schema\.prisma says "1", the database has "0"/
    },
    {
      what: 'a changed DateTime precision',
      schema: alter(/(startedAt\s+DateTime\?\s+@map\("started_at"\)\s+)@db\.DateTime\(3\)/, '$1@db.DateTime(6)'),
      expect: /column jobs\.started_at type/
    },
    {
      what: 'a new enum value',
      schema: alter(/(\n\s*cancelled\n)/, '$1  expired\n'),
      expect: /column jobs\.status type/
    },
    {
      what: 'Json that is not JSON',
      schema: alter(/(params\s+)Json/, '$1String @db.LongText'),
      expect: /column jobs\.params type: schema\.prisma says "longtext", the database has "json"/
    },
    {
      what: 'a renamed column (@map)',
      schema: alter('@map("total_steps")', '@map("steps_total")'),
      expect: /column jobs\.steps_total: declared in schema\.prisma, missing/
    },
    {
      what: 'autoincrement removed',
      schema: alter(/(id\s+Int\s+@id\s+)@default\(autoincrement\(\)\)/, '$1'),
      expect: /column outputs\.id extra/
    },
    {
      what: 'an index added to schema.prisma',
      schema: alter('@@index([createdAt])', '@@index([createdAt])\n  @@index([workerId])'),
      expect: /index on jobs jobs_worker_id_idx: declared in schema\.prisma, missing/
    },
    {
      what: 'index columns in another order',
      schema: alter('@@index([status, createdAt])', '@@index([createdAt, status])'),
      expect: /index on jobs jobs_created_at_status_idx: declared in schema\.prisma, missing/
    },
    {
      what: 'a unique constraint dropped',
      schema: alter('@@unique([owner, idempotencyKey])\n', ''),
      expect: /index on jobs jobs_owner_idempotency_key_key: in the database/
    },
    {
      what: 'a unique index made plain (map keeps the name)',
      schema: alter('@@unique([jobId, index])', '@@index([jobId, index], map: "outputs_job_id_idx_key")'),
      expect: /index on outputs outputs_job_id_idx_key kind: schema\.prisma says "normal", the database has "unique"/
    },
    {
      what: 'a changed referential action',
      schema: alter('onDelete: Cascade', 'onDelete: Restrict'),
      expect: /foreign key on outputs outputs_job_id_fkey onDelete: schema\.prisma says "RESTRICT", the database has "CASCADE"/
    },
    {
      what: 'a model added without a migration',
      schema: schemaText + '\nmodel Tag {\n  id   Int    @id @default(autoincrement())\n  name String @db.VarChar(32)\n  @@map("tags")\n}\n',
      expect: /table tags: declared in schema\.prisma, missing in the database/
    }
  ]
  for (const c of cases) {
    const diff = diffShapes(expectedShape(getDmmf(c.schema)), live)
    t.ok(diff.some(d => c.expect.test(d)), `detected: ${c.what}`, { differences: diff, expect: c.expect })
  }

  t.throws(() => getDmmf(alter('@db.VarChar(36)', '@db.VarChar(36) @nonsense')), /does not validate/,
    'an invalid schema is an error, not an empty model')

  // and drift on the database side
  await pool.query('ALTER TABLE `jobs` ADD COLUMN `note` VARCHAR(10) NULL, ADD INDEX `jobs_note_idx` (`note`)')
  await pool.query('ALTER TABLE `outputs` MODIFY `mime` VARCHAR(64) NULL')
  const after = diffShapes(expectedShape(getDmmf(schemaText)), await liveShape(pool, loc.database))
  t.ok(after.some(d => /column jobs\.note: in the database/.test(d)), 'detected: a column only in the database', { after })
  t.ok(after.some(d => /index on jobs jobs_note_idx: in the database/.test(d)), 'detected: an index only in the database', { after })
  t.ok(after.some(d => /column outputs\.mime nullable: schema\.prisma says false, the database has true/.test(d)),
    'detected: nullability changed in the database', { after })
})
