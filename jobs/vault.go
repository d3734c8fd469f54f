package jobs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Vault seals raw prompts for video_job_prompts with AES-256-GCM and hashes
// them for video_jobs.prompt_hash with HMAC-SHA-256 under a separate key.
//
// Each sealed prompt records the id of the key that sealed it, so keys can
// rotate: the first key is the one new prompts are sealed with, the others
// only open older rows. The job's public id is bound in as additional data,
// so a ciphertext copied onto another job's row does not open.
type Vault struct {
	active  string
	aeads   map[string]cipher.AEAD
	hashKey []byte
}

// VaultKey is one prompt encryption key.
type VaultKey struct {
	ID  string
	Key []byte // 32 bytes
}

// NewVault returns a vault that seals with keys[0] and opens with any of
// keys; hashKey (at least 32 bytes) keys the prompt HMAC.
func NewVault(keys []VaultKey, hashKey []byte) (*Vault, error) {
	if len(keys) == 0 {
		return nil, errors.New("vault: no prompt encryption key")
	}
	if len(hashKey) < 32 {
		return nil, errors.New("vault: prompt hash key must be at least 32 bytes")
	}
	v := &Vault{active: keys[0].ID, aeads: map[string]cipher.AEAD{}, hashKey: hashKey}
	for _, k := range keys {
		if k.ID == "" || len(k.ID) > 64 {
			return nil, fmt.Errorf("vault: key id %q: want 1 to 64 characters", k.ID)
		}
		if len(k.Key) != 32 {
			return nil, fmt.Errorf("vault: key %q is %d bytes, want 32 (AES-256)", k.ID, len(k.Key))
		}
		if _, dup := v.aeads[k.ID]; dup {
			return nil, fmt.Errorf("vault: key id %q appears twice", k.ID)
		}
		block, err := aes.NewCipher(k.Key)
		if err != nil {
			return nil, fmt.Errorf("vault: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("vault: key %q: %w", k.ID, err)
		}
		v.aeads[k.ID] = aead
	}
	return v, nil
}

// ParseVaultKeys parses "id:base64key[,id:base64key…]", the format of
// VIDGATE_PROMPT_KEYS. The first key is the active one.
func ParseVaultKeys(s string) ([]VaultKey, error) {
	var keys []VaultKey
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok {
			return nil, errors.New("prompt keys: want id:base64key, comma separated")
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("prompt key %q: not base64", id)
		}
		keys = append(keys, VaultKey{ID: id, Key: key})
	}
	if len(keys) == 0 {
		return nil, errors.New("prompt keys: none given")
	}
	return keys, nil
}

// Seal encrypts prompt for the job with public id jobID and returns the key
// id and the ciphertext (nonce first).
func (v *Vault) Seal(jobID, prompt string) (keyID string, ciphertext []byte, err error) {
	aead := v.aeads[v.active]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(prompt)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("seal prompt: %w", err)
	}
	return v.active, aead.Seal(nonce, nonce, []byte(prompt), []byte(jobID)), nil
}

// Open decrypts a prompt sealed by Seal for the same job.
func (v *Vault) Open(jobID, keyID string, ciphertext []byte) (string, error) {
	aead, ok := v.aeads[keyID]
	if !ok {
		return "", fmt.Errorf("open prompt: unknown key id %q", keyID)
	}
	if len(ciphertext) < aead.NonceSize()+aead.Overhead() {
		return "", errors.New("open prompt: ciphertext too short")
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, ciphertext[:n], ciphertext[n:], []byte(jobID))
	if err != nil {
		return "", fmt.Errorf("open prompt: %w", err)
	}
	return string(plain), nil
}

// Prompts are the user's texts of a job, sealed together in one
// video_job_prompts row: the prompt and the negative prompt (what the video
// should not show). Both are user text, kept out of every operational
// table, log and event alike.
type Prompts struct {
	Prompt   string
	Negative string
}

// promptsMark starts a sealed record that holds more than the prompt. A
// prompt never starts with it (validatePrompt refuses control
// characters), so records sealed before negative prompts existed, which
// hold the bare prompt, read as they always did.
const promptsMark = "\x00prompts:"

// SealPrompts seals p for the job with public id jobID: the bare prompt
// when there is no negative prompt, else both, JSON encoded after
// promptsMark.
func (v *Vault) SealPrompts(jobID string, p Prompts) (keyID string, ciphertext []byte, err error) {
	if p.Negative == "" {
		return v.Seal(jobID, p.Prompt)
	}
	b, err := json.Marshal(sealedPrompts{p.Prompt, p.Negative})
	if err != nil {
		return "", nil, fmt.Errorf("seal prompt: %w", err)
	}
	return v.Seal(jobID, promptsMark+string(b))
}

// OpenPrompts opens a record sealed by SealPrompts (or Seal).
func (v *Vault) OpenPrompts(jobID, keyID string, ciphertext []byte) (Prompts, error) {
	plain, err := v.Open(jobID, keyID, ciphertext)
	if err != nil {
		return Prompts{}, err
	}
	rest, both := strings.CutPrefix(plain, promptsMark)
	if !both {
		return Prompts{Prompt: plain}, nil
	}
	var sp sealedPrompts
	if err := json.Unmarshal([]byte(rest), &sp); err != nil {
		return Prompts{}, errors.New("open prompt: malformed sealed record")
	}
	return Prompts{Prompt: sp.P, Negative: sp.N}, nil
}

type sealedPrompts struct {
	P string `json:"p"`
	N string `json:"n"`
}

// Hash is the keyed HMAC-SHA-256 of prompt, hex encoded: equal prompts hash
// equal (so duplicates can be found and idempotent requests compared)
// without the jobs table ever holding the prompt.
func (v *Vault) Hash(prompt string) string {
	m := hmac.New(sha256.New, v.hashKey)
	m.Write([]byte(prompt))
	return hex.EncodeToString(m.Sum(nil))
}

// ActiveKeyID is the id of the key new prompts are sealed with.
func (v *Vault) ActiveKeyID() string { return v.active }

// HasKey reports whether the vault can open prompts sealed with key id.
func (v *Vault) HasKey(id string) bool {
	_, ok := v.aeads[id]
	return ok
}

// Reseal opens a prompt sealed with keyID for job jobID and seals it again
// with the active key, under a fresh nonce.
func (v *Vault) Reseal(jobID, keyID string, ciphertext []byte) (newKeyID string, sealed []byte, err error) {
	plain, err := v.Open(jobID, keyID, ciphertext)
	if err != nil {
		return "", nil, err
	}
	return v.Seal(jobID, plain)
}
