package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
)

// clip is the video a succeeded generation serves: a real H.264 MP4 with
// the generation's duration and dimensions (see h264.go), one colour per
// second. With a seed, the colours follow from the seed and the prompt,
// and the seed is written in the file's user data, so that the same
// request and seed make the same bytes and another seed other bytes.
// Without one, every clip of the same options is the same.
type clip struct {
	seconds       int
	width, height int
	seed          *int64
	prompt        string
	moovAtEnd     bool
}

// clipFPS is the frame rate of clips.
const clipFPS = 24

// Time scales: the movie's in milliseconds, the track's a multiple of the
// frame rate so that every frame lasts a whole number of ticks.
const (
	movieTimescale = 1000
	trackTimescale = clipFPS * 512
	frameTicks     = trackTimescale / clipFPS
)

// clipOf returns the clip of a validated request.
func clipOf(req createRequest, b Behavior) clip {
	w, h := frameSize(req.Resolution, req.AspectRatio)
	return clip{seconds: req.DurationSeconds, width: w, height: h, seed: req.Seed, prompt: req.Prompt, moovAtEnd: b.MoovAtEnd}
}

// shortSides are the lengths of the short side of a frame, by resolution.
var shortSides = map[string]int{"720p": 720, "1080p": 1080, "4k": 2160}

// frameSize returns the width and height of resolution (its short side)
// at aspect ratio "W:H": 720p 16:9 is 1280x720, 720p 9:16 720x1280.
func frameSize(resolution, aspect string) (width, height int) {
	short := shortSides[resolution]
	a, b, _ := strings.Cut(aspect, ":")
	wr, _ := strconv.Atoi(a)
	hr, _ := strconv.Atoi(b)
	if short == 0 || wr <= 0 || hr <= 0 {
		return 0, 0 // refused by validate before it gets here
	}
	even := func(v int) int { return (v + 1) &^ 1 }
	if wr >= hr {
		return even(short * wr / hr), short
	}
	return short, even(short * hr / wr)
}

// colour returns the colour of second i of the clip.
func (c clip) colour(i int) yuv {
	h := sha256.New()
	h.Write([]byte("vidgate sim clip\x00"))
	if c.seed != nil {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(*c.seed)))
		h.Write([]byte(c.prompt))
	}
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(i)))
	s := h.Sum(nil)
	// Clear of the extremes, which some decoders clip.
	return yuv{y: 40 + s[0]%176, cb: 64 + s[1]%128, cr: 64 + s[2]%128}
}

// encode returns the clip's MP4 file: ftyp, moov and mdat, or ftyp, mdat
// and moov with moovAtEnd.
func (c clip) encode() []byte {
	s := newStream(c.width, c.height, clipFPS)
	// Every IDR picture ends the same, and every second has the same P
	// pictures: each is encoded once.
	tail := s.idrTail()
	ps := make([][]byte, clipFPS)
	perSecond := 4 + len(tail) + 500 // the IDR picture, about
	for n := 1; n < clipFPS; n++ {
		ps[n] = s.p(n)
		perSecond += 4 + len(ps[n])
	}
	frames := c.seconds * clipFPS
	mdat := make([]byte, 0, c.seconds*perSecond)
	sizes := make([]uint32, frames)
	var sync []uint32
	for f := range frames {
		nal := ps[f%clipFPS]
		if f%clipFPS == 0 {
			sec := f / clipFPS
			nal = s.idr(c.colour(sec), uint32(sec%2), tail)
			sync = append(sync, uint32(f+1))
		}
		// Samples hold NAL units with 4-byte lengths (avcC lengthSizeMinusOne 3).
		mdat = binary.BigEndian.AppendUint32(mdat, uint32(len(nal)))
		mdat = append(mdat, nal...)
		sizes[f] = uint32(4 + len(nal))
	}

	ftyp := box("ftyp", []byte("isom"), u32(0x200), []byte("isomiso2avc1mp41"))
	mdatBox := box("mdat", mdat)
	moov := func(chunkOffset uint32) []byte { return c.moov(s, sizes, sync, chunkOffset) }
	if c.moovAtEnd {
		return cat(ftyp, mdatBox, moov(uint32(len(ftyp)+8)))
	}
	// The chunk offset is a fixed-size field: the moov is as long whatever it says.
	at := uint32(len(ftyp) + len(moov(0)) + 8)
	return cat(ftyp, moov(at), mdatBox)
}

// moov returns the movie box of one video track whose samples, of the given
// sizes, are one chunk at chunkOffset; sync lists the key frames (from 1).
func (c clip) moov(s stream, sizes, sync []uint32, chunkOffset uint32) []byte {
	frames := uint32(len(sizes))
	movieDur := uint32(c.seconds * movieTimescale)
	trackDur := frames * frameTicks
	matrix := cat(u32(0x10000), u32(0), u32(0), u32(0), u32(0x10000), u32(0), u32(0), u32(0), u32(0x40000000))

	mvhd := box("mvhd", u32(0), u32(0), u32(0), u32(movieTimescale), u32(movieDur),
		u32(0x10000), u16(0x100), make([]byte, 10), matrix, make([]byte, 24), u32(2))
	tkhd := box("tkhd", u32(3), u32(0), u32(0), u32(1), u32(0), u32(movieDur), make([]byte, 8),
		u16(0), u16(0), u16(0), u16(0), matrix, u32(uint32(c.width)<<16), u32(uint32(c.height)<<16))
	mdhd := box("mdhd", u32(0), u32(0), u32(0), u32(trackTimescale), u32(trackDur), u16(0x55c4), u16(0)) // "und"
	hdlr := box("hdlr", u32(0), u32(0), []byte("vide"), make([]byte, 12), []byte("VideoHandler\x00"))
	vmhd := box("vmhd", u32(1), make([]byte, 8))
	dinf := box("dinf", box("dref", u32(0), u32(1), box("url ", u32(1))))

	sps, pps := s.sps(), s.pps()
	avcC := box("avcC", []byte{1, profileBaseline, constraintFlags, s.level(), 0xff, 0xe1},
		u16(uint16(len(sps))), sps, []byte{1}, u16(uint16(len(pps))), pps)
	avc1 := box("avc1", make([]byte, 6), u16(1), make([]byte, 16),
		u16(uint16(c.width)), u16(uint16(c.height)), u32(0x480000), u32(0x480000), u32(0),
		u16(1), make([]byte, 32), u16(0x18), u16(0xffff), avcC)
	stsd := box("stsd", u32(0), u32(1), avc1)
	stts := box("stts", u32(0), u32(1), u32(frames), u32(frameTicks))
	stss := box("stss", u32(0), u32(uint32(len(sync))), u32s(sync))
	stsc := box("stsc", u32(0), u32(1), u32(1), u32(frames), u32(1))
	stsz := box("stsz", u32(0), u32(0), u32(frames), u32s(sizes))
	stco := box("stco", u32(0), u32(1), u32(chunkOffset))
	stbl := box("stbl", stsd, stts, stss, stsc, stsz, stco)

	trak := box("trak", tkhd, box("mdia", mdhd, hdlr, box("minf", vmhd, dinf, stbl)))
	var udta []byte
	if c.seed != nil {
		// Free-form: players skip it; it tells seeds apart even where two
		// seeds happened to draw the same colours.
		udta = box("udta", box("free", []byte("vidgate sim seed="+strconv.FormatInt(*c.seed, 10))))
	}
	return box("moov", mvhd, trak, udta)
}

// box returns an ISO BMFF box of type typ around the concatenated parts.
func box(typ string, parts ...[]byte) []byte {
	body := cat(parts...)
	return cat(u32(uint32(8+len(body))), []byte(typ), body)
}

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func u32s(vs []uint32) []byte {
	out := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		out = binary.BigEndian.AppendUint32(out, v)
	}
	return out
}
