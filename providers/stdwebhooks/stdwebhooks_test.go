package stdwebhooks

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// The test vector of the Standard Webhooks specification.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignVector(t *testing.T) {
	t.Parallel()
	s, err := NewSigner(vecSecret)
	if err != nil {
		t.Fatalf("NewSigner(%q) error = %v", vecSecret, err)
	}
	if got := s.Sign(vecID, time.Unix(vecTS, 0), []byte(vecBody)); got != vecSig {
		t.Errorf("Sign(%q, %d, %q) = %q, want %q", vecID, vecTS, vecBody, got, vecSig)
	}
	h := http.Header{}
	s.SetHeaders(h, vecID, time.Unix(vecTS, 0), []byte(vecBody))
	if h.Get(HeaderID) != vecID || h.Get(HeaderTimestamp) != strconv.Itoa(vecTS) || h.Get(HeaderSignature) != vecSig {
		t.Errorf("SetHeaders() = %v, want id %q, timestamp %d, signature %q", h, vecID, vecTS, vecSig)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	const otherSecret = "whsec_c2VjcmV0LW51bWJlci10d28tZm9yLXJvdGF0aW9u" // "secret-number-two-for-rotation"
	otherSigner, err := NewSigner(otherSecret)
	if err != nil {
		t.Fatal(err)
	}
	otherSig := otherSigner.Sign(vecID, time.Unix(vecTS, 0), []byte(vecBody))
	at := time.Unix(vecTS, 0)

	tests := []struct {
		name    string
		secrets []string
		now     time.Time
		id, ts  string
		sig     string
		body    string
		wantErr error
	}{
		{name: "vector", secrets: []string{vecSecret}, now: at, sig: vecSig},
		{name: "secret without prefix", secrets: []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, now: at, sig: vecSig},
		{name: "4m59s later", secrets: []string{vecSecret}, now: at.Add(299 * time.Second), sig: vecSig},
		{name: "4m59s earlier", secrets: []string{vecSecret}, now: at.Add(-299 * time.Second), sig: vecSig},
		{name: "several signatures, one good", secrets: []string{vecSecret}, now: at, sig: "v1,bm9wZQ== v2,whatever " + vecSig},
		{name: "rotation: old secret still accepted", secrets: []string{otherSecret, vecSecret}, now: at, sig: vecSig},
		{name: "rotation: new secret accepted", secrets: []string{otherSecret, vecSecret}, now: at, sig: otherSig},
		{name: "rotation: sender signs with both", secrets: []string{otherSecret}, now: at, sig: vecSig + " " + otherSig},
		{name: "wrong key", secrets: []string{otherSecret}, now: at, sig: vecSig, wantErr: ErrNoMatch},
		{name: "tampered body", secrets: []string{vecSecret}, now: at, sig: vecSig, body: `{"test": 2432232315}`, wantErr: ErrNoMatch},
		{name: "tampered id", secrets: []string{vecSecret}, now: at, id: "msg_other", sig: vecSig, wantErr: ErrNoMatch},
		{name: "tampered timestamp", secrets: []string{vecSecret}, now: at, ts: strconv.Itoa(vecTS + 1), sig: vecSig, wantErr: ErrNoMatch},
		{name: "only another version", secrets: []string{vecSecret}, now: at, sig: "v2," + vecSig[3:], wantErr: ErrNoMatch},
		{name: "garbage signature", secrets: []string{vecSecret}, now: at, sig: "v1,!!!", wantErr: ErrNoMatch},
		{name: "too old", secrets: []string{vecSecret}, now: at.Add(301 * time.Second), sig: vecSig, wantErr: ErrTimestampTooOld},
		{name: "too new", secrets: []string{vecSecret}, now: at.Add(-301 * time.Second), sig: vecSig, wantErr: ErrTimestampTooNew},
		{name: "bad timestamp", secrets: []string{vecSecret}, now: at, ts: "yesterday", sig: vecSig, wantErr: ErrInvalidTimestamp},
		{name: "missing signature", secrets: []string{vecSecret}, now: at, sig: "", wantErr: ErrMissingHeaders},
		{name: "missing id", secrets: []string{vecSecret}, now: at, id: "-", sig: vecSig, wantErr: ErrMissingHeaders},
		{name: "missing timestamp", secrets: []string{vecSecret}, now: at, ts: "-", sig: vecSig, wantErr: ErrMissingHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewVerifier(tt.secrets, WithClock(func() time.Time { return tt.now }))
			if err != nil {
				t.Fatalf("NewVerifier(%q) error = %v", tt.secrets, err)
			}
			id, ts, body := vecID, strconv.Itoa(vecTS), vecBody
			if tt.id != "" {
				id = tt.id
			}
			if tt.ts != "" {
				ts = tt.ts
			}
			if tt.body != "" {
				body = tt.body
			}
			h := http.Header{}
			for k, v := range map[string]string{HeaderID: id, HeaderTimestamp: ts, HeaderSignature: tt.sig} {
				if v != "-" && v != "" {
					h.Set(k, v)
				}
			}
			gotID, err := v.Verify(h, []byte(body))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Verify(%v, %q) error = %v, want %v", h, body, err, tt.wantErr)
			}
			if err == nil && gotID != id {
				t.Errorf("Verify(%v, %q) = %q, want %q", h, body, gotID, id)
			}
		})
	}
}

func TestNewVerifierRejectsBadSecrets(t *testing.T) {
	t.Parallel()
	tests := [][]string{nil, {"whsec_not base64!"}, {"whsec_"}, {vecSecret, "whsec_%%"}}
	for _, secrets := range tests {
		if _, err := NewVerifier(secrets); err == nil {
			t.Errorf("NewVerifier(%q) error = nil, want an error", secrets)
		}
	}
}

func TestNewSecretRoundTrip(t *testing.T) {
	t.Parallel()
	a, b := NewSecret(), NewSecret()
	if a == b {
		t.Fatalf("NewSecret() returned %q twice", a)
	}
	s, err := NewSigner(a)
	if err != nil {
		t.Fatalf("NewSigner(NewSecret()) error = %v", err)
	}
	v, err := NewVerifier([]string{a})
	if err != nil {
		t.Fatalf("NewVerifier(NewSecret()) error = %v", err)
	}
	h := http.Header{}
	s.SetHeaders(h, "msg_1", time.Now(), []byte("{}"))
	if _, err := v.Verify(h, []byte("{}")); err != nil {
		t.Errorf("Verify(signed with a fresh secret) error = %v, want nil", err)
	}
	if key, _ := DecodeSecret(a); len(key) != 32 {
		t.Errorf("len(DecodeSecret(NewSecret())) = %d, want 32", len(key))
	}
}
