package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// The upload memory and quota flags are listed, and values that cannot work
// are refused at start-up with the flag named.
func TestUploadLimitFlags(t *testing.T) {
	var help bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--help"}, io.Discard, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve --help error = %v, want flag.ErrHelp", err)
	}
	for _, f := range []string{"--upload-decode-memory", "--upload-decodes", "--upload-decode-wait", "--daily-uploads", "--daily-upload-bytes"} {
		if !strings.Contains(help.String(), f) {
			t.Errorf("serve --help lacks %s", f)
		}
	}
	good := config{Concurrency: "8", MaxUploadBytes: 20 << 20, MinImageSide: 64, MaxImageSide: 4096, SourceAssetTTL: time.Hour,
		UploadDecodeMemory: 64 << 20, UploadDecodes: 2, UploadDecodeWait: 3 * time.Second, DailyUploads: 100, DailyUploadBytes: 1 << 30}
	for _, tt := range []struct {
		flag string
		edit func(*config)
		ok   bool
	}{
		{"--daily-upload-bytes", func(c *config) {}, true},
		{"--daily-upload-bytes", func(c *config) { c.DailyUploads, c.DailyUploadBytes = 0, 0 }, true},
		{"--daily-upload-bytes", func(c *config) { c.DailyUploadBytes = 10 << 20 }, false}, // under one file
		{"--daily-uploads", func(c *config) { c.DailyUploads = -1 }, false},
		{"--upload-decodes", func(c *config) { c.UploadDecodes = 0 }, false},
		{"--upload-decode-memory", func(c *config) { c.UploadDecodeMemory = 0 }, false},
	} {
		c := good
		tt.edit(&c)
		err := c.check(roleServe)
		if got := err == nil || !strings.Contains(err.Error(), tt.flag); got != tt.ok {
			t.Errorf("check with %+v: %v; want %s accepted %v", c, err, tt.flag, tt.ok)
		}
	}
}
