package jobs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/jobs"
)

// The prompt vault: AES-256-GCM under the first key, opened by any key
// given, each ciphertext bound to its job; the prompt hash is an HMAC
// under its own key.
func TestVault(t *testing.T) {
	const prompt = "Confidential: the spring campaign for Northwind Lemonade"
	k1 := jobs.VaultKey{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}
	k2 := jobs.VaultKey{ID: "k2", Key: bytes.Repeat([]byte{2}, 32)}
	hashKey := bytes.Repeat([]byte{9}, 32)
	newVault := func(hk []byte, keys ...jobs.VaultKey) *jobs.Vault {
		t.Helper()
		v, err := jobs.NewVault(keys, hk)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	old := newVault(hashKey, k1)
	v := newVault(hashKey, k2, k1)

	// The first key seals; the id of the key is returned to store with the row.
	keyID, sealed, err := v.Seal("job-a", prompt)
	if err != nil || keyID != "k2" {
		t.Fatalf("Seal = %q, %v; want sealed with k2", keyID, err)
	}
	if bytes.Contains(sealed, []byte(prompt)) || bytes.Contains(sealed, []byte("Northwind")) {
		t.Error("the ciphertext holds the prompt in the clear")
	}
	if _, again, _ := v.Seal("job-a", prompt); bytes.Equal(again, sealed) {
		t.Error("sealing the same prompt twice gave the same ciphertext: want a fresh nonce each time")
	}
	if got, err := v.Open("job-a", keyID, sealed); err != nil || got != prompt {
		t.Errorf("Open = %q, %v; want the prompt", got, err)
	}

	// Every key opens: a row sealed with k1 before k2 was added.
	oldID, oldSealed, err := old.Seal("job-b", prompt)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.Open("job-b", oldID, oldSealed); oldID != "k1" || err != nil || got != prompt {
		t.Errorf("Open(k1 row) with keys k2,k1 = %q, %v; want the prompt", got, err)
	}

	// Refusals, none of which quote the prompt.
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() (string, error){
		"moved to another job": func() (string, error) { return v.Open("job-b", keyID, sealed) },
		"tampered":             func() (string, error) { return v.Open("job-a", keyID, tampered) },
		"under another key id": func() (string, error) { return v.Open("job-a", "k1", sealed) },
		"an unknown key id":    func() (string, error) { return v.Open("job-a", "k9", sealed) },
		"without its key":      func() (string, error) { return old.Open("job-a", keyID, sealed) },
	} {
		got, err := open()
		if err == nil || got != "" {
			t.Errorf("Open of a ciphertext %s = %q, %v; want an error", name, got, err)
		} else if strings.Contains(err.Error(), "Northwind") {
			t.Errorf("Open error %q quotes the prompt", err)
		}
	}

	// The hash: keyed (not a plain SHA-256, different under another key),
	// stable under one key, whatever key seals.
	h := v.Hash(prompt)
	plain := sha256.Sum256([]byte(prompt))
	if h == "" || h == hex.EncodeToString(plain[:]) || strings.Contains(h, "Northwind") {
		t.Errorf("Hash = %q: want an HMAC, not the prompt's SHA-256", h)
	}
	if old.Hash(prompt) != h {
		t.Error("the hash changed with the encryption keys: want it under the hash key alone")
	}
	if newVault(bytes.Repeat([]byte{8}, 32), k2).Hash(prompt) == h {
		t.Error("the hash is the same under another hash key")
	}

	// Keys that are not AES-256 are refused, as is a short hash key.
	if _, err := jobs.NewVault([]jobs.VaultKey{{ID: "k", Key: make([]byte, 16)}}, hashKey); err == nil {
		t.Error("NewVault(a 16-byte key) = nil, want an error")
	}
	if _, err := jobs.NewVault([]jobs.VaultKey{k1}, make([]byte, 16)); err == nil {
		t.Error("NewVault(a 16-byte hash key) = nil, want an error")
	}
}

// The negative prompt is sealed with the prompt; a record sealed before
// negative prompts existed (the bare prompt) opens as the prompt alone.
func TestVaultSealsPromptsTogether(t *testing.T) {
	v, err := jobs.NewVault([]jobs.VaultKey{{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}}, bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	const job = "6f1c2c0e-0000-4000-8000-000000000001"
	want := jobs.Prompts{Prompt: "a kite over dunes", Negative: "no Zeppelin-44 in the sky"}
	key, sealed, err := v.SealPrompts(job, want)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("Zeppelin-44")) {
		t.Error("the sealed record holds the negative prompt in the clear")
	}
	if got, err := v.OpenPrompts(job, key, sealed); err != nil || got != want {
		t.Errorf("OpenPrompts = %+v, %v; want %+v", got, err, want)
	}
	key, sealed, _ = v.Seal(job, "a kite over dunes")
	if got, err := v.OpenPrompts(job, key, sealed); err != nil || got != (jobs.Prompts{Prompt: "a kite over dunes"}) {
		t.Errorf("OpenPrompts(old record) = %+v, %v; want the prompt alone", got, err)
	}
}
