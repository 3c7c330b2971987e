// The media libraries load on first use, not with this package: a gateway that only reads image
// headers, or a worker that has not made a video yet, does not pay for them (about 2.5 s of start-up
// on a loaded 2-core machine). import() caches each module, so later calls cost nothing.
export type Sharp = typeof import('sharp').default
export type Mediabunny = typeof import('mediabunny')

export async function loadSharp (): Promise<Sharp> {
  return (await import('sharp')).default
}

export async function loadMediabunny (): Promise<Mediabunny> {
  return await import('mediabunny')
}

export async function loadMpg123 (): Promise<typeof import('mpg123-decoder')> {
  return await import('mpg123-decoder')
}

export async function loadOpusScript (): Promise<typeof import('opusscript')> {
  return (await import('opusscript')).default
}
