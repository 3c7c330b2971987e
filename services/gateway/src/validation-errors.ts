import { FIELD_RULES } from '@comfy-jobs/contracts'
import { AppError } from './app-error.ts'

/** One failure as ajv reports it. */
export interface ValidationIssue {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
}

export interface FieldProblem { field: string, message: string }

function fieldOf (issue: ValidationIssue): string {
  const path = issue.instancePath.replace(/^\//, '').replace(/\//g, '.')
  const missing = issue.params.missingProperty ?? issue.params.additionalProperty
  return [path, missing].filter(Boolean).join('.') || '(body)'
}

/** Says which field is wrong and what it must be, in the words of FIELD_RULES. */
export function describeIssue (issue: ValidationIssue, context: string): FieldProblem {
  const field = fieldOf(issue)
  if (issue.keyword === 'additionalProperties') return { field, message: `unknown field ${JSON.stringify(field)} in ${context}` }
  if (issue.keyword === 'required') return { field, message: `${field} is required${FIELD_RULES[field] ? `: ${FIELD_RULES[field]}` : ''}` }
  const rule = FIELD_RULES[field]
  return { field, message: rule ? `${field} must be ${rule}` : `${field} ${issue.message ?? 'is invalid'}` }
}

/** The VALIDATION error for schema failures, naming each field: the same text on every transport. */
export function invalidRequest (issues: readonly ValidationIssue[], context: string): AppError {
  const problems = issues.map(i => describeIssue(i, context))
  return new AppError('VALIDATION', {
    details: problems,
    // ajv reports a failed union once per branch; say each thing once
    extra: { error: `Invalid request: ${[...new Set(problems.map(p => p.message))].join('; ')}` }
  })
}

/** The VALIDATION error for one field, as every check after the schema reports it. */
export function fieldProblem (field: string, message: string): AppError {
  return fieldProblems([{ field, message }])
}

export function fieldProblems (problems: FieldProblem[]): AppError {
  return new AppError('VALIDATION', { details: problems, extra: { error: `Invalid request: ${problems.map(p => p.message).join('; ')}` } })
}
