// Must show (issue 11): each video workflow runs end to end on the built-in engine, through the real
// gateway and worker: a WebM of N frames of the declared size, made from the inputs, and an avatar
// video as long as its audio.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { startBuiltinSystem, runJob, upload } from './helpers/builtin-jobs.ts'
import { colourDistance, decodeKeyFrameWebm, encodeAs, meanAbsDiff, meanColour, paint, wav } from './helpers/media.ts'

const sys = await startBuiltinSystem(t, 'builtin_videos')
const FPS = 12
const SEGMENT = 24

const warm = paint(160, 120, (x, y) => [210, 90 + (x + y) % 30, 60])
const cool = paint(160, 120, (x, y) => [40, 90 + (x * y) % 30, 200])
const portrait = paint(200, 240, () => [225, 180, 150])
const speech = wav(2.3, s => s < 1 ? 0 : 0.5 * Math.sin(2 * Math.PI * 220 * s))
const mp3 = readFileSync(new URL('./fixtures/media/tone-1500ms.mp3', import.meta.url))
const [warmName, coolName, portraitName, speechName, mp3Name] = await Promise.all([
  upload(sys, await encodeAs(warm, 'png'), 'warm.png'),
  upload(sys, await encodeAs(cool, 'png'), 'cool.png'),
  upload(sys, await encodeAs(portrait, 'png'), 'me.png'),
  upload(sys, speech, 'hello.wav'),
  upload(sys, mp3, 'tone.mp3')
])

const jobs = {
  text: runJob(sys, { workflow: 'text_to_video', prompt: 'a night train', prompts: ['a night train', 'dawn at the station'], aspect_ratio: '16:9' }),
  shots: runJob(sys, { workflow: 'image_to_video', prompt: 'a slow walk', inputs: { shots: [warmName, coolName] } }),
  morph: runJob(sys, { workflow: 'first_last_frame_video', prompt: 'sunset to night', inputs: { first_frame: warmName, last_frame: coolName } }),
  avatar: runJob(sys, { workflow: 'talking_avatar', prompt: 'hello', inputs: { avatar: portraitName, audio: speechName } }),
  avatarMp3: runJob(sys, { workflow: 'talking_avatar', prompt: 'hello', inputs: { avatar: portraitName, audio: mp3Name } })
}
for (const job of Object.values(jobs)) job.catch(() => {}) // each subtest reports its own failure

t.test('text_to_video: a 24-frame segment per prompt at the aspect ratio fitted into 512 px', async t => {
  const { status, output, data, contentType } = await jobs.text
  t.match(output, { kind: 'video', mime: 'video/webm', width: 512, height: 350, frames: 2 * SEGMENT, duration_ms: 4000 })
  t.match(output.url, /\.webm$/)
  t.equal(contentType, 'video/webm')
  t.equal(status.total_steps, 2 * SEGMENT, 'a progress step per frame')
  const video = await decodeKeyFrameWebm(data)
  t.equal(video.frames.length, 2 * SEGMENT)
  t.same([video.width, video.height], [512, 350])
  t.ok(colourDistance(meanColour(video.frames[0]), meanColour(video.frames[40])) > 10, 'the second prompt\'s segment looks different')
})

t.test('image_to_video: a segment per shot, each starting on its shot', async t => {
  const { output, data } = await jobs.shots
  t.match(output, { kind: 'video', mime: 'video/webm', width: 160, height: 120, frames: 2 * SEGMENT, duration_ms: 4000 })
  const video = await decodeKeyFrameWebm(data)
  t.equal(video.frames.length, 2 * SEGMENT)
  const frame0 = meanColour(video.frames[0])
  const frame24 = meanColour(video.frames[SEGMENT])
  t.ok(frame0[0] > frame0[2] + 80, `frame 0 is the warm shot, lightly tinted (${frame0.map(Math.round).join(',')})`)
  t.ok(frame24[2] > frame24[0] + 80, `frame ${SEGMENT} is the cool shot (${frame24.map(Math.round).join(',')})`)
})

t.test('first_last_frame_video: 24 frames from the first image to the last', async t => {
  const { output, data } = await jobs.morph
  t.match(output, { kind: 'video', mime: 'video/webm', width: 160, height: 120, frames: SEGMENT, duration_ms: 2000 })
  const video = await decodeKeyFrameWebm(data)
  // VP8 at quality 80 costs a few levels on these textures; the two images are about 100 levels apart
  t.ok(meanAbsDiff(video.frames[0], warm) < 8, `it opens on the first image (${meanAbsDiff(video.frames[0], warm).toFixed(1)} levels off)`)
  t.ok(meanAbsDiff(video.frames[SEGMENT - 1], cool) < 8, `and closes on the last (${meanAbsDiff(video.frames[SEGMENT - 1], cool).toFixed(1)} levels off)`)
  t.ok(meanAbsDiff(video.frames[SEGMENT - 1], warm) > 60, 'far from the first')
})

t.test('talking_avatar: as long as its WAV within a frame, the mouth moving with the sound', async t => {
  const { output, data } = await jobs.avatar
  const frames = Math.ceil(2.3 * FPS)
  t.match(output, { kind: 'video', mime: 'video/webm', width: 200, height: 240, frames })
  t.ok(Math.abs(output.duration_ms! - 2300) < 1000 / FPS, `lasts ${output.duration_ms} ms, the audio 2300 ms`)
  const video = await decodeKeyFrameWebm(data)
  t.equal(video.audioCodec, 'opus', 'with the sound')
  const mouth = { x: 88, y: 171, width: 24, height: 4 }
  const closed = meanColour(video.frames[5], mouth)
  const open = meanColour(video.frames[20], mouth)
  t.ok(colourDistance(closed, [225, 180, 150]) < 6, 'silent at first: mouth closed')
  t.ok(colourDistance(open, closed) > 80, 'then the tone: mouth open')
})

t.test('talking_avatar from an MP3', async t => {
  const { output } = await jobs.avatarMp3
  t.match(output, { kind: 'video', mime: 'video/webm', frames: 18 })
  t.ok(Math.abs(output.duration_ms! - 1500) < 1000 / FPS, `lasts ${output.duration_ms} ms, the MP3 1500 ms`)
})
