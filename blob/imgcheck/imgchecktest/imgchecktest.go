// Package imgchecktest builds images for tests of upload limits: large
// canvases whose files stay small, without an encoder allocating the
// decoded canvas first.
package imgchecktest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// PNG returns a valid, all-black w×h PNG of the given bit depth (8 or 16)
// and color type (0 gray, 2 RGB, 4 gray+alpha, 6 RGBA). Black compresses
// about 1000:1, so a 4096×4096 16-bit RGBA image (128 MiB decoded) is a
// file of about 130 KB. Only one row is ever held in memory.
func PNG(w, h, depth, colorType int) []byte {
	channels := map[int]int{0: 1, 2: 3, 4: 2, 6: 4}[colorType]
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, byte(depth), byte(colorType), 0, 0, 0)
	var idat bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	row := make([]byte, 1+w*channels*depth/8) // filter byte 0, then zeros
	for range h {
		zw.Write(row)
	}
	zw.Close()
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	out = append(out, chunk("IDAT", idat.Bytes())...)
	return append(out, chunk("IEND", nil)...)
}

func chunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}
