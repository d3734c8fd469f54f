package mp4

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestReadInfoFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		want     Info
		moovLast bool // whether moov comes after mdat
	}{
		{file: "faststart.mp4", want: Info{Duration: 2 * time.Second, Width: 320, Height: 180, Brand: "isom"}},
		{file: "moov_at_end.mp4", want: Info{Duration: 2 * time.Second, Width: 320, Height: 180, Brand: "isom"}, moovLast: true},
		// portrait.mp4 has an audio track before the video track.
		{file: "portrait.mp4", want: Info{Duration: time.Second, Width: 180, Height: 320, Brand: "isom"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			data := readFixture(t, tt.file)

			// Guard the property each fixture exists for, in case it is regenerated.
			types, _ := topLevel(t, bytes.NewReader(data), int64(len(data)))
			moov, mdat := slices.Index(types, "moov"), slices.Index(types, "mdat")
			if moov < 0 || mdat < 0 || (moov > mdat) != tt.moovLast {
				t.Fatalf("%s top-level boxes = %q, want moov after mdat = %v", tt.file, types, tt.moovLast)
			}

			r := &recorder{r: bytes.NewReader(data)}
			got, err := ReadInfo(r, int64(len(data)))
			if err != nil {
				t.Fatalf("ReadInfo(%s) error = %v, want nil", tt.file, err)
			}
			if d := got.Duration - tt.want.Duration; d < -50*time.Millisecond || d > 50*time.Millisecond {
				t.Errorf("ReadInfo(%s).Duration = %v, want %v ± 50ms", tt.file, got.Duration, tt.want.Duration)
			}
			if got.Width != tt.want.Width {
				t.Errorf("ReadInfo(%s).Width = %d, want %d", tt.file, got.Width, tt.want.Width)
			}
			if got.Height != tt.want.Height {
				t.Errorf("ReadInfo(%s).Height = %d, want %d", tt.file, got.Height, tt.want.Height)
			}
			if got.Brand != tt.want.Brand {
				t.Errorf("ReadInfo(%s).Brand = %q, want %q", tt.file, got.Brand, tt.want.Brand)
			}
			// One read per top-level header up to moov, one for the moov.
			wantReads := moov + 2
			if reads, total := r.stats(); reads != wantReads || total > 4096 {
				t.Errorf("ReadInfo(%s) made %d reads of %d bytes in total, want %d reads of at most 4096 bytes", tt.file, reads, total, wantReads)
			}
		})
	}
}

// edgeCase is a hand-built input for ReadInfo; see edgeCases.
type edgeCase struct {
	name    string
	data    []byte
	want    Info // when !wantErr
	wantErr bool // an error wrapping ErrInvalid
}

// edgeCases returns the hand-built inputs shared by TestReadInfoEdgeCases and
// the fuzz seed corpus.
func edgeCases() []edgeCase {
	ok := Info{Duration: 2500 * time.Millisecond, Width: 640, Height: 360, Brand: "isom"}
	valid := cat(ftyp("isom"), validMoov(), box("mdat", make([]byte, 64)))
	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	return []edgeCase{
		// Valid files.
		{name: "moov before mdat", data: valid, want: ok},
		{name: "moov after mdat", data: cat(ftyp("isom"), box("free"), box("mdat", make([]byte, 64)), validMoov()), want: ok},
		{name: "quicktime brand", data: cat(ftyp("qt  "), box("wide"), box("mdat"), validMoov()), want: Info{ok.Duration, 640, 360, "qt  "}},
		{name: "64-bit largesize mdat", data: cat(ftyp("isom"), largeBox("mdat", make([]byte, 64)), validMoov()), want: ok},
		{name: "64-bit largesize moov", data: cat(ftyp("isom"), largeBox("moov", mvhd0(1000, 2500), videoTrak(640, 360))), want: ok},
		{name: "64-bit largesize ftyp", data: cat(largeBox("ftyp", "mp42", u32(0)), validMoov()), want: Info{ok.Duration, 640, 360, "mp42"}},
		{name: "size 0 moov last", data: cat(ftyp("isom"), box("mdat"), openBox("moov", mvhd0(1000, 2500), videoTrak(640, 360))), want: ok},
		{name: "size 0 mdat after moov", data: cat(ftyp("isom"), validMoov(), openBox("mdat", make([]byte, 64))), want: ok},
		{name: "size 0 box inside moov", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), openBox("trak", videoTrak(640, 360)[8:]))), want: ok},
		{name: "mvhd version 1", data: cat(ftyp("isom"), box("moov", mvhd1(90000, 90000*3600*5+45000), videoTrak(640, 360))), want: Info{5*time.Hour + 500*time.Millisecond, 640, 360, "isom"}},
		{name: "mvhd duration unknown", data: cat(ftyp("isom"), box("moov", mvhd0(1000, math.MaxUint32), videoTrak(640, 360))), want: Info{0, 640, 360, "isom"}},
		{name: "mvhd version 1 duration unknown", data: cat(ftyp("isom"), box("moov", mvhd1(1000, math.MaxUint64), videoTrak(640, 360))), want: Info{0, 640, 360, "isom"}},
		{name: "tkhd version 1", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), trak("vide", tkhd1(1920, 1080), "avc1", 1, 1))), want: Info{ok.Duration, 1920, 1080, "isom"}},
		{name: "audio track first", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), audioTrak(), videoTrak(640, 360))), want: ok},
		{name: "first of two video tracks", data: cat(ftyp("isom"), box("moov", videoTrak(640, 360), mvhd0(1000, 2500), videoTrak(1280, 720))), want: ok},
		{name: "tkhd 0 falls back to avc1", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), trak("vide", tkhd0(0, 0), "avc1", 640, 360))), want: ok},
		{name: "tkhd height 0 falls back to hvc1", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), trak("vide", tkhd0(7, 0), "hvc1", 640, 360))), want: ok},
		{name: "no tkhd falls back to av01", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), box("trak", trak("vide", nil, "av01", 640, 360)[8:]))), want: ok},
		{name: "unknown boxes are skipped", data: cat(ftyp("isom"), box("uuid", make([]byte, 16)), box("moov", box("udta", "junk"), mvhd0(1000, 2500), box("trak", box("edts"), videoTrak(640, 360)[8:]))), want: ok},
		{name: "junk after moov is not read", data: cat(ftyp("isom"), validMoov(), "\xff\xff"), want: ok},
		// ReadInfo stops at moov: what follows it is never read, so neither
		// junk nor a truncated mdat after it is noticed.
		{name: "truncated mdat after moov", data: valid[:len(valid)-1], want: ok},
		{name: "many boxes before moov", data: cat(ftyp("isom"), bytes.Repeat(box("free"), maxTopLevelBoxes-2), validMoov()), want: ok},
		{name: "16384x16384", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), videoTrak(16384, 16384))), want: Info{ok.Duration, 16384, 16384, "isom"}},

		// Not MP4 at all.
		{name: "empty", data: nil, wantErr: true},
		{name: "7 bytes", data: []byte("\x00\x00\x00\x08fty"), wantErr: true},
		{name: "png", data: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x01\x40\x00\x00\x00\xb4\x08\x02\x00\x00\x00"), wantErr: true},
		{name: "random bytes", data: random, wantErr: true},
		{name: "zeros", data: make([]byte, 64), wantErr: true},

		// Structure errors.
		{name: "moov first", data: cat(validMoov(), ftyp("isom")), wantErr: true},
		{name: "free first", data: cat(box("free"), ftyp("isom"), validMoov()), wantErr: true},
		{name: "ftyp without brand", data: cat(box("ftyp"), validMoov()), wantErr: true},
		{name: "no moov", data: cat(ftyp("isom"), box("mdat", make([]byte, 64))), wantErr: true},
		{name: "moov swallowed by size 0 mdat", data: cat(ftyp("isom"), openBox("mdat"), validMoov()), wantErr: true},
		{name: "too many boxes before moov", data: cat(ftyp("isom"), bytes.Repeat(box("free"), maxTopLevelBoxes), validMoov()), wantErr: true},
		{name: "truncated in moov", data: valid[:len(valid)-100], wantErr: true},
		{name: "truncated in ftyp", data: valid[:10], wantErr: true},
		{name: "trailing bytes before moov", data: cat(ftyp("isom"), "\x00\x00\x00"), wantErr: true},
		{name: "largesize mdat overruns file", data: cat(ftyp("isom"), header("mdat", 1<<40), validMoov()), wantErr: true},
		{name: "mdat before moov overruns file", data: cat(ftyp("isom"), header("mdat", 1<<20), validMoov()), wantErr: true},
		{name: "trak overruns moov", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), header("trak", 1000), videoTrak(640, 360)[8:]), box("free", make([]byte, 1000))), wantErr: true},
		{name: "tkhd overruns trak", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), box("trak", header("tkhd", 200), tkhd0(640, 360)[8:]), box("free", make([]byte, 200)))), wantErr: true},
		{name: "size 4 top-level box", data: cat(ftyp("isom"), u32(4), "free", validMoov()), wantErr: true},
		{name: "size 7 nested box", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), u32(7), "trak", videoTrak(640, 360))), wantErr: true},
		{name: "largesize 8", data: cat(ftyp("isom"), u32(1), "mdat", u64(8), validMoov()), wantErr: true},
		{name: "largesize 0", data: cat(ftyp("isom"), u32(1), "mdat", u64(0), validMoov()), wantErr: true},
		{name: "largesize negative", data: cat(ftyp("isom"), u32(1), "mdat", u64(1<<63), validMoov()), wantErr: true},
		{name: "largesize truncated", data: cat(ftyp("isom"), u32(1), "mdat", "\x00\x00"), wantErr: true},

		// Content errors.
		{name: "no mvhd", data: cat(ftyp("isom"), box("moov", videoTrak(640, 360))), wantErr: true},
		{name: "mvhd version 2", data: cat(ftyp("isom"), box("moov", box("mvhd", fullBox(2), make([]byte, 96)), videoTrak(640, 360))), wantErr: true},
		{name: "mvhd too short", data: cat(ftyp("isom"), box("moov", box("mvhd", fullBox(0), u32(0)), videoTrak(640, 360))), wantErr: true},
		{name: "timescale 0", data: cat(ftyp("isom"), box("moov", mvhd0(0, 2500), videoTrak(640, 360))), wantErr: true},
		{name: "duration overflows", data: cat(ftyp("isom"), box("moov", mvhd1(1, math.MaxUint64-1), videoTrak(640, 360))), wantErr: true},
		{name: "no tracks", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500))), wantErr: true},
		{name: "no video track", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), audioTrak())), wantErr: true},
		{name: "trak without hdlr", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), box("trak", tkhd0(640, 360)))), wantErr: true},
		{name: "hdlr too short", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), box("trak", box("mdia", box("hdlr", fullBox(0), "vide"))))), wantErr: true},
		{name: "tkhd too short", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), trak("vide", box("tkhd", fullBox(0), make([]byte, 40)), "avc1", 640, 360))), wantErr: true},
		{name: "tkhd 0 and audio sample entry", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), trak("vide", tkhd0(0, 0), "mp4a", 640, 360))), wantErr: true},
		{name: "tkhd 0 and stsd 0", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), trak("vide", tkhd0(0, 0), "avc1", 0, 0))), wantErr: true},
		{name: "tkhd 0 and empty stsd", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), box("trak", tkhd0(0, 0), box("mdia", hdlr("vide"), box("minf", box("stbl", box("stsd", fullBox(0), u32(0)))))))), wantErr: true},
		{name: "tkhd 0 and short sample entry", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), box("trak", tkhd0(0, 0), box("mdia", hdlr("vide"), box("minf", box("stbl", box("stsd", fullBox(0), u32(1), box("avc1", make([]byte, 20))))))))), wantErr: true},
		{name: "width 16385", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), videoTrak(16385, 360))), wantErr: true},
		{name: "height 65535", data: cat(ftyp("isom"), box("moov", mvhd0(1000, 2500), videoTrak(640, 65535))), wantErr: true},
	}
}

func TestReadInfoEdgeCases(t *testing.T) {
	t.Parallel()
	tests := edgeCases()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadInfo(bytes.NewReader(tt.data), int64(len(tt.data)))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("ReadInfo(%s) = %+v, %v; want an error wrapping ErrInvalid", tt.name, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadInfo(%s) error = %v, want nil", tt.name, err)
			}
			if got != tt.want {
				t.Errorf("ReadInfo(%s) = %+v, want %+v", tt.name, got, tt.want)
			}
		})
	}
}

// TestReadInfoSkipsMdat puts moov after a 200 MB mdat in a virtual file and
// checks that ReadInfo reads only headers and the moov.
func TestReadInfoSkipsMdat(t *testing.T) {
	t.Parallel()
	const mdatSize = 200 << 20
	tests := []struct {
		name string
		mdat []byte // header
	}{
		{name: "32-bit size", mdat: header("mdat", mdatSize)},
		{name: "64-bit largesize", mdat: cat(u32(1), "mdat", u64(mdatSize))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			head := cat(ftyp("isom"), box("free", make([]byte, 100)))
			moov := validMoov()
			mdatAt, moovAt := int64(len(head)), int64(len(head))+mdatSize
			f := &sparse{
				size:  moovAt + int64(len(moov)),
				parts: map[int64][]byte{0: head, mdatAt: tt.mdat, moovAt: moov},
			}
			r := &recorder{r: f}
			got, err := ReadInfo(r, f.size)
			if err != nil {
				t.Fatalf("ReadInfo(%s) error = %v, want nil", tt.name, err)
			}
			if want := (Info{Duration: 2500 * time.Millisecond, Width: 640, Height: 360, Brand: "isom"}); got != want {
				t.Errorf("ReadInfo(%s) = %+v, want %+v", tt.name, got, want)
			}
			// Headers are read 16 bytes at a time, to get a largesize in the same
			// read, so the first 16 bytes of mdat may be read but nothing more.
			if r.touched(mdatAt+16, moovAt) {
				t.Errorf("ReadInfo(%s) read mdat payload: reads %v", tt.name, r.reads)
			}
			// ftyp, free, mdat and moov headers, then the moov payload.
			if reads, total := r.stats(); reads != 5 || total > int64(64+len(moov)) {
				t.Errorf("ReadInfo(%s) made %d reads of %d bytes in total, want 5 reads of at most %d bytes", tt.name, reads, total, 64+len(moov))
			}
		})
	}
}

// TestReadInfoMoovTooLarge checks that a huge moov is refused before it is
// read (or allocated).
func TestReadInfoMoovTooLarge(t *testing.T) {
	t.Parallel()
	head := ftyp("isom")
	moovSize := int64(maxMoovSize + 9)
	f := &sparse{size: int64(len(head)) + moovSize, parts: map[int64][]byte{0: head, int64(len(head)): header("moov", uint64(moovSize))}}
	r := &recorder{r: f}
	got, err := ReadInfo(r, f.size)
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("ReadInfo(moov of %d bytes) = %+v, %v; want an error wrapping ErrInvalid", moovSize, got, err)
	}
	if _, total := r.stats(); total > 64 {
		t.Errorf("ReadInfo(moov of %d bytes) read %d bytes, want at most 64", moovSize, total)
	}
}

func TestReadInfoReaderErrors(t *testing.T) {
	t.Parallel()
	valid := cat(ftyp("isom"), validMoov())
	errDisk := errors.New("disk on fire")
	tests := []struct {
		name      string
		r         io.ReaderAt
		size      int64
		wantIs    []error
		wantIsNot error
	}{
		{name: "read error", r: errReader{errDisk}, size: 1000, wantIs: []error{errDisk}, wantIsNot: ErrInvalid},
		{name: "reader shorter than size", r: bytes.NewReader(cat(ftyp("isom"), box("mdat"))), size: 1000, wantIs: []error{ErrInvalid, io.ErrUnexpectedEOF}},
		{name: "reader shorter than size in moov", r: bytes.NewReader(valid[:len(valid)-1]), size: int64(len(valid)), wantIs: []error{ErrInvalid, io.ErrUnexpectedEOF}},
		{name: "negative size", r: bytes.NewReader(valid), size: -1, wantIs: []error{ErrInvalid}},
		{name: "zero size", r: bytes.NewReader(valid), size: 0, wantIs: []error{ErrInvalid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadInfo(tt.r, tt.size)
			for _, want := range tt.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("ReadInfo(%s) = %+v, %v; want an error wrapping %v", tt.name, got, err, want)
				}
			}
			if tt.wantIsNot != nil && errors.Is(err, tt.wantIsNot) {
				t.Errorf("ReadInfo(%s) error = %v, want one not wrapping %v", tt.name, err, tt.wantIsNot)
			}
		})
	}
}
