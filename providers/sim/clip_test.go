package sim

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

func TestFrameSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		resolution, aspect string
		w, h               int
	}{
		{"720p", "16:9", 1280, 720}, {"720p", "9:16", 720, 1280}, {"720p", "1:1", 720, 720},
		{"720p", "4:3", 960, 720}, {"720p", "3:4", 720, 960}, {"720p", "21:9", 1680, 720},
		{"1080p", "16:9", 1920, 1080}, {"1080p", "9:16", 1080, 1920}, {"1080p", "21:9", 2520, 1080},
		{"4k", "16:9", 3840, 2160}, {"4k", "9:16", 2160, 3840}, {"4k", "1:1", 2160, 2160}, {"4k", "21:9", 5040, 2160},
	}
	for _, tt := range tests {
		if w, h := frameSize(tt.resolution, tt.aspect); w != tt.w || h != tt.h {
			t.Errorf("frameSize(%s, %s) = %dx%d, want %dx%d", tt.resolution, tt.aspect, w, h, tt.w, tt.h)
		}
	}
	// Every size the catalog offers is one the encoder can make.
	for _, m := range catalog {
		for _, r := range m.Resolutions {
			for _, a := range m.AspectRatios {
				if w, h := frameSize(r, a); w <= 0 || h <= 0 || w%2 != 0 || h%2 != 0 || w > 8192 || h > 8192 {
					t.Errorf("%s: frameSize(%s, %s) = %dx%d, want even sizes up to 8192", m.ID, r, a, w, h)
				}
			}
		}
	}
}

// child returns the payload of the first box of type typ among the boxes in
// b, or nil.
func child(b []byte, typ string) []byte {
	for len(b) >= 8 {
		size := int(binary.BigEndian.Uint32(b))
		if size < 8 || size > len(b) {
			return nil
		}
		if string(b[4:8]) == typ {
			return b[8:size]
		}
		b = b[size:]
	}
	return nil
}

// path descends through child boxes.
func path(b []byte, types ...string) []byte {
	for _, typ := range types {
		if b = child(b, typ); b == nil {
			return nil
		}
	}
	return b
}

func be32(b []byte, off int) int { return int(binary.BigEndian.Uint32(b[off:])) }
func be16(b []byte, off int) int { return int(binary.BigEndian.Uint16(b[off:])) }

// spsSize decodes the picture size from an SPS NAL unit as the encoder
// writes it (Baseline, pic_order_cnt_type 2).
func spsSize(t *testing.T, nal []byte) (w, h int) {
	t.Helper()
	var rbsp []byte // without emulation prevention bytes
	for i, b := range nal[1:] {
		if b == 3 && i >= 2 && nal[i-1] == 0 && nal[i] == 0 {
			continue
		}
		rbsp = append(rbsp, b)
	}
	pos := 24 // profile, constraint flags, level
	bit := func() int {
		v := int(rbsp[pos/8]>>(7-pos%8)) & 1
		pos++
		return v
	}
	ue := func() int {
		zeros := 0
		for bit() == 0 {
			zeros++
		}
		v := 1
		for range zeros {
			v = v<<1 | bit()
		}
		return v - 1
	}
	ue() // seq_parameter_set_id
	ue() // log2_max_frame_num_minus4
	if poc := ue(); poc != 2 {
		t.Fatalf("SPS pic_order_cnt_type = %d, want 2", poc)
	}
	ue()  // max_num_ref_frames
	bit() // gaps_in_frame_num_value_allowed_flag
	w, h = (ue()+1)*16, (ue()+1)*16
	if bit() != 1 {
		t.Fatal("SPS frame_mbs_only_flag = 0, want 1")
	}
	bit() // direct_8x8_inference_flag
	if bit() == 1 {
		left, right, top, bottom := ue(), ue(), ue(), ue()
		w -= 2 * (left + right)
		h -= 2 * (top + bottom)
	}
	return w, h
}

// TestClipBoxes checks every field that states the clip's duration and
// size, and that the sample tables describe the media data exactly.
func TestClipBoxes(t *testing.T) {
	t.Parallel()
	seed := int64(-3)
	for _, c := range []clip{
		{seconds: 5, width: 1280, height: 720},
		{seconds: 8, width: 720, height: 1280, moovAtEnd: true},
		{seconds: 1, width: 2520, height: 1080, seed: &seed, prompt: "x"},
		{seconds: 20, width: 5040, height: 2160},
	} {
		file := c.encode()
		var top []string
		for b := file; len(b) >= 8; b = b[be32(b, 0):] {
			top = append(top, string(b[4:8]))
		}
		want := []string{"ftyp", "moov", "mdat"}
		if c.moovAtEnd {
			want = []string{"ftyp", "mdat", "moov"}
		}
		if !slices.Equal(top, want) {
			t.Errorf("%+v: top-level boxes %q, want %q", c, top, want)
		}

		moov := child(file, "moov")
		mvhd := child(moov, "mvhd")
		tkhd := path(moov, "trak", "tkhd")
		mdhd := path(moov, "trak", "mdia", "mdhd")
		stbl := path(moov, "trak", "mdia", "minf", "stbl")
		if got := be32(mvhd, 16) * 1000 / be32(mvhd, 12); got != c.seconds*1000 {
			t.Errorf("%+v: mvhd duration %d ms, want %d s", c, got, c.seconds)
		}
		if be32(tkhd, 20) != be32(mvhd, 16) || be32(tkhd, 76)>>16 != c.width || be32(tkhd, 80)>>16 != c.height {
			t.Errorf("%+v: tkhd duration %d, %dx%d; want %d, %dx%d",
				c, be32(tkhd, 20), be32(tkhd, 76)>>16, be32(tkhd, 80)>>16, be32(mvhd, 16), c.width, c.height)
		}
		if be32(mdhd, 16) != c.seconds*be32(mdhd, 12) {
			t.Errorf("%+v: mdhd duration %d at timescale %d, want %d s", c, be32(mdhd, 16), be32(mdhd, 12), c.seconds)
		}
		stsd := child(stbl, "stsd")
		avc1 := child(stsd[8:], "avc1")
		if be16(avc1, 24) != c.width || be16(avc1, 26) != c.height {
			t.Errorf("%+v: avc1 is %dx%d", c, be16(avc1, 24), be16(avc1, 26))
		}
		avcC := child(avc1[78:], "avcC")
		if w, h := spsSize(t, avcC[8:8+be16(avcC, 6)]); w != c.width || h != c.height {
			t.Errorf("%+v: SPS pictures are %dx%d", c, w, h)
		}

		// stts: every sample a frame, adding up to the track's duration.
		stts := child(stbl, "stts")
		if be32(stts, 4) != 1 || be32(stts, 8)*be32(stts, 12) != be32(mdhd, 16) || be32(stts, 8) != c.seconds*clipFPS {
			t.Errorf("%+v: stts %x does not add up to %d frames over mdhd's duration", c, stts, c.seconds*clipFPS)
		}
		// One chunk at the start of mdat's payload, as long as the samples.
		stsz, stco := child(stbl, "stsz"), child(stbl, "stco")
		mdat := child(file, "mdat")
		at := bytes.Index(file, mdat)
		total := 0
		for i := range be32(stsz, 8) {
			total += be32(stsz, 12+4*i)
		}
		if be32(stco, 4) != 1 || be32(stco, 8) != at || total != len(mdat) {
			t.Errorf("%+v: chunk at %d with %d bytes of samples, want mdat's %d bytes at %d", c, be32(stco, 8), total, len(mdat), at)
		}
		// A key frame each second, and the first sample is an IDR picture.
		stss := child(stbl, "stss")
		if be32(stss, 4) != c.seconds || be32(stss, 8) != 1 || mdat[4]&0x1f != 5 {
			t.Errorf("%+v: %d key frames, first at %d, first NAL type %d; want %d, 1 and 5 (IDR)", c, be32(stss, 4), be32(stss, 8), mdat[4]&0x1f, c.seconds)
		}
		if udta := child(moov, "udta"); (udta != nil) != (c.seed != nil) {
			t.Errorf("%+v: udta %q, want one only with a seed", c, udta)
		}
	}
}

// TestClipDecodes decodes clips with ffmpeg, which fails on any error in
// the stream, when ffmpeg is installed.
func TestClipDecodes(t *testing.T) {
	t.Parallel()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg is not installed")
	}
	seed := int64(99)
	for i, c := range []clip{
		{seconds: 2, width: 1280, height: 720, seed: &seed, prompt: "x"},
		{seconds: 2, width: 2520, height: 1080, moovAtEnd: true},
		{seconds: 1, width: 2160, height: 3840},
	} {
		file := filepath.Join(t.TempDir(), "clip.mp4")
		if err := os.WriteFile(file, c.encode(), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(t.Context(), ffmpeg, "-v", "error", "-xerror", "-err_detect", "explode",
			"-i", file, "-f", "null", "-").CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("clip %d (%+v): ffmpeg: %v\n%s", i, c, err, out)
		}
	}
}
