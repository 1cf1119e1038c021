import test from 'ava';
import sharp from 'sharp';
import { sniffImageType } from '../src/domain/image-type.ts';

/** An ISO-BMFF `ftyp` box: size, "ftyp", major brand, minor version, compatible brands. */
function ftyp(major: string, compatible: string[]): Buffer {
  const size = 16 + 4 * compatible.length;
  const box = Buffer.alloc(size);
  box.writeUInt32BE(size, 0);
  box.write('ftyp', 4, 'latin1');
  box.write(major, 8, 'latin1');
  compatible.forEach((brand, i) => {
    box.write(brand, 16 + 4 * i, 'latin1');
  });
  return Buffer.concat([box, Buffer.alloc(32)]);
}

test('real images made by sharp are identified from their first bytes', async (t) => {
  const pixels = { create: { width: 8, height: 8, channels: 3 as const, background: '#c33' } };
  for (const [format, type] of [
    ['jpeg', 'image/jpeg'],
    ['png', 'image/png'],
    ['webp', 'image/webp'],
    ['avif', 'image/avif'],
  ] as const) {
    const image = await sharp(pixels).toFormat(format).toBuffer();
    t.is(sniffImageType(image.subarray(0, 64)), type, format);
  }
});

test('AVIF is recognised by its major or a compatible brand; HEIC and other ISO-BMFF files are not', (t) => {
  t.is(sniffImageType(ftyp('avif', ['mif1', 'miaf'])), 'image/avif');
  t.is(sniffImageType(ftyp('mif1', ['miaf', 'avif'])), 'image/avif');
  t.is(sniffImageType(ftyp('heic', ['mif1', 'heic'])), undefined, 'HEIC is not accepted');
  t.is(sniffImageType(ftyp('isom', ['iso2', 'mp41'])), undefined, 'an MP4 video is not an image');
});

test('other files are refused whatever their name: GIF, WAV, PDF, text, a lone JPEG marker', async (t) => {
  const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } })
    .gif()
    .toBuffer();
  t.is(sniffImageType(gif), undefined);
  t.is(sniffImageType(Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1')), undefined);
  t.is(sniffImageType(Buffer.from('%PDF-1.7\n')), undefined);
  t.is(sniffImageType(Buffer.from('hello, I am a cat.jpg')), undefined);
  t.is(sniffImageType(Buffer.from([0xff, 0xd8])), undefined, 'two bytes are not a JPEG');
});
