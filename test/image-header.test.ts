// An image's type and size from its first bytes, without decoding: PNG, JPEG (past large metadata),
// WebP (lossy, lossless, extended) and GIF; a cut-short header is told apart from one that is not an image.
import t from 'tap'
import { readImageHeader, IMAGE_HEADER_BYTES } from '../packages/media/src/index.ts'
import { jpegHeader, png, pngHeaderClaiming, webpHeader } from './helpers/media-files.ts'

t.same(readImageHeader(png(37, 21)), { mime: 'image/png', width: 37, height: 21 }, 'a real PNG')
t.same(readImageHeader(pngHeaderClaiming(100000, 100000)), { mime: 'image/png', width: 100000, height: 100000 }, 'a PNG header alone says its claim')
t.same(readImageHeader(jpegHeader(4032, 3024)), { mime: 'image/jpeg', width: 4032, height: 3024 }, 'a JPEG')
t.same(readImageHeader(jpegHeader(640, 480, 60_000)), { mime: 'image/jpeg', width: 640, height: 480 }, 'a JPEG whose size comes after 60 kB of EXIF')
t.match(readImageHeader(jpegHeader(640, 480, 60_000).subarray(0, IMAGE_HEADER_BYTES)), { problem: 'truncated' }, '… which the first bytes alone do not hold')
t.same(readImageHeader(webpHeader(1920, 1080)), { mime: 'image/webp', width: 1920, height: 1080 }, 'a lossy WebP')

const lossless = Buffer.alloc(30)
lossless.write('RIFF', 0, 'latin1'); lossless.write('WEBPVP8L', 8, 'latin1'); lossless[20] = 0x2f
lossless.writeUInt32LE((300 - 1) | ((200 - 1) << 14), 21)
t.same(readImageHeader(lossless), { mime: 'image/webp', width: 300, height: 200 }, 'a lossless WebP')

const extended = Buffer.alloc(30)
extended.write('RIFF', 0, 'latin1'); extended.write('WEBPVP8X', 8, 'latin1')
extended.writeUIntLE(5000 - 1, 24, 3); extended.writeUIntLE(7000 - 1, 27, 3)
t.same(readImageHeader(extended), { mime: 'image/webp', width: 5000, height: 7000 }, 'an extended (animated) WebP')

t.same(readImageHeader(Buffer.from('GIF89a\x40\x01\xf0\x00\x00\x00\x00;', 'latin1')), { mime: 'image/gif', width: 320, height: 240 }, 'a GIF')
t.match(readImageHeader(png(4, 4).subarray(0, 20)), { problem: 'truncated' }, 'a PNG cut short')
t.match(readImageHeader(Buffer.from('RIFF\x10\x00\x00\x00WAVEfmt ', 'latin1')), { problem: 'not-an-image' }, 'a WAV is not an image')
t.match(readImageHeader(pngHeaderClaiming(0, 10)), { problem: 'malformed', message: /0×10/ }, 'a zero width is malformed')
const noSof = Buffer.from('ffd8ffda000c03010002110311003f00', 'hex')
t.match(readImageHeader(noSof), { problem: 'malformed', message: /before its size/ }, 'a JPEG whose scan starts before any frame header')
