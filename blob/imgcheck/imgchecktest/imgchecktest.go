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
	return build(w, h, depth, colorType, false)
}

// InterlacedPNG is PNG, Adam7-interlaced.
func InterlacedPNG(w, h, depth, colorType int) []byte {
	return build(w, h, depth, colorType, true)
}

// adam7 are the passes of Adam7 interlacing: x and y offset, x and y step.
var adam7 = [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}

func build(w, h, depth, colorType int, interlaced bool) []byte {
	channels := map[int]int{0: 1, 2: 3, 4: 2, 6: 4}[colorType]
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ilace := byte(0)
	if interlaced {
		ilace = 1
	}
	ihdr = append(ihdr, byte(depth), byte(colorType), 0, 0, ilace)
	var idat bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	rows := func(w, h int) {
		row := make([]byte, 1+w*channels*depth/8) // filter byte 0, then zeros
		for range h {
			zw.Write(row)
		}
	}
	if !interlaced {
		rows(w, h)
	} else {
		for _, p := range adam7 {
			pw, ph := (w-p[0]+p[2]-1)/p[2], (h-p[1]+p[3]-1)/p[3]
			if pw > 0 && ph > 0 {
				rows(pw, ph)
			}
		}
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
