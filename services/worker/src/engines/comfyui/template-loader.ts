import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { TemplateError, parseTemplate, type WorkflowTemplate } from './workflow-template.ts'
import { SHIPPED_WORKFLOWS_DIR } from '../workflow-declaration.ts'

function readJson (name: string, path: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new TemplateError(name, path, `cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new TemplateError(name, path, `not valid JSON: ${(err as Error).message}`)
  }
}

function loadDir (dir: string, variable: string | null): WorkflowTemplate[] {
  let names: string[]
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory')
    names = readdirSync(dir, { withFileTypes: true }).filter(e => e.isDirectory() && !e.name.startsWith('.')).map(e => e.name).sort()
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new Error(variable ? `${variable}=${JSON.stringify(dir)} is not a readable directory of templates (${why})` : `cannot read templates in ${dir} (${why})`)
  }
  return names.map(name => {
    const folder = join(dir, name)
    return parseTemplate(name, folder, readJson(name, join(folder, 'graph.json')), readJson(name, join(folder, 'manifest.json')))
  })
}

/**
 * Every template, each validated: the shipped ones, then those in WORKFLOWS_DIR (a user template
 * replaces a shipped one of the same name). Throws naming the template and the fault.
 */
export function loadTemplates (workflowsDir: string | null, onReplace?: (name: string, by: string) => void): Map<string, WorkflowTemplate> {
  const templates = new Map<string, WorkflowTemplate>()
  for (const t of loadDir(SHIPPED_WORKFLOWS_DIR, null)) templates.set(t.name, t)
  if (workflowsDir !== null) {
    for (const t of loadDir(workflowsDir, 'WORKFLOWS_DIR')) {
      if (templates.has(t.name)) onReplace?.(t.name, t.source)
      templates.set(t.name, t)
    }
  }
  return templates
}
