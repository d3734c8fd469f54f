package blob

import "testing"

func TestSniffContentType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		head string
		hint string
		want string
	}{
		{"mp4 isom", "\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "", "video/mp4"},
		{"mp4 mp42", "\x00\x00\x00\x1cftypmp42\x00\x00\x00\x00", "", "video/mp4"},
		{"quicktime", "\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00", "", "video/mp4"},
		{"avif", "\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "", "image/avif"},
		{"m4a", "\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00", "", "audio/mp4"},
		{"png", string(pngHead), "", "image/png"},
		{"jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00", "", "image/jpeg"},
		{"webp", "RIFF\x24\x00\x00\x00WEBPVP8 ", "", "image/webp"},
		{"webm", "\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm", "", "video/webm"},
		{"binary with hint", "\x00\x01\x02", "Video/MP4", "video/mp4"},
		{"binary with bad hint", "\x00\x01\x02", ";;", "application/octet-stream"},
		{"empty", "", "", "application/octet-stream"},
		{"empty with hint", "", "image/png", "image/png"},
	}
	for _, tt := range tests {
		if got := sniffContentType([]byte(tt.head), tt.hint); got != tt.want {
			t.Errorf("sniffContentType(%s, %q) = %q, want %q", tt.name, tt.hint, got, tt.want)
		}
	}
}
