package setup

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// Standard Webhooks secrets (base64 of 24 bytes), the first from PROVIDERS.md.
const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
)

func TestFromEnv(t *testing.T) {
	t.Parallel()
	t2v, i2v := providers.WorkflowTextToVideo, providers.WorkflowImageToVideo
	tests := []struct {
		name string
		env  map[string]string // "{dir}" is replaced by the directory of files
		// files are written to {dir} before FromEnv runs.
		files   map[string]string
		want    Settings
		wantErr []string // substrings, each naming its variable
		// secretsNotInErr must not appear in the error.
		secretsNotInErr []string
	}{
		{name: "nothing set", env: nil, want: Settings{}},
		{name: "every replicate setting", env: map[string]string{
			"VIDGATE_REPLICATE_API_KEY":              "r8_key",
			"VIDGATE_REPLICATE_BASE_URL":             "http://127.0.0.1:9000/v1",
			"VIDGATE_REPLICATE_MODEL_TEXT_TO_VIDEO":  "kwaivgi/kling-v2.1",
			"VIDGATE_REPLICATE_MODEL_IMAGE_TO_VIDEO": "wan-video/wan-2.2-i2v-fast",
			"VIDGATE_REPLICATE_WEBHOOK_SECRETS":      secretA + ", " + secretB,
			"VIDGATE_REPLICATE_TIMEOUT":              "45s",
			"VIDGATE_REPLICATE_CONCURRENCY":          "4",
		}, want: Settings{Replicate: ReplicateSettings{
			APIKey: "r8_key", BaseURL: "http://127.0.0.1:9000/v1",
			Models:         map[providers.Workflow]string{t2v: "kwaivgi/kling-v2.1", i2v: "wan-video/wan-2.2-i2v-fast"},
			WebhookSecrets: []string{secretA, secretB}, Timeout: 45 * time.Second, Concurrency: 4,
		}}},
		{name: "the other providers' own settings", env: map[string]string{
			"VIDGATE_FAL_API_KEY":                  "id:secret",
			"VIDGATE_FAL_JWKS_URL":                 "https://rest.fal.ai/.well-known/jwks.json",
			"VIDGATE_FAL_USER_ID":                  "github|vidgate",
			"VIDGATE_LUMA_API_KEY":                 "luma-key",
			"VIDGATE_LUMA_CALLBACK_TOKEN":          "0123456789abcdef0123",
			"VIDGATE_RUNWAY_API_KEY":               "rw-key",
			"VIDGATE_RUNWAY_TIMEOUT":               "1m30s",
			"VIDGATE_VEO_API_KEY":                  "AIza-key",
			"VIDGATE_VEO_MODEL_IMAGE_TO_VIDEO":     "veo-2.0-generate-001",
			"VIDGATE_VEO_CONCURRENCY":              "0",
			"VIDGATE_RUNWAY_MODEL_TEXT_TO_VIDEO":   "veo3.1",
			"VIDGATE_LUMA_MODEL_IMAGE_TO_VIDEO":    "ray-flash-2",
			"VIDGATE_FAL_MODEL_TEXT_TO_VIDEO":      "fal-ai/veo3",
			"VIDGATE_FAL_MODEL_IMAGE_TO_VIDEO":     "fal-ai/kling-video/v2.1/master/image-to-video",
			"VIDGATE_REPLICATE_WEBHOOK_SECRETS":    "",
			"VIDGATE_REPLICATE_WEBHOOK_SECRETS_XX": "ignored: not a variable",
		}, want: Settings{
			Fal: FalSettings{APIKey: "id:secret", JWKSURL: "https://rest.fal.ai/.well-known/jwks.json", UserID: "github|vidgate",
				Models: map[providers.Workflow]string{t2v: "fal-ai/veo3", i2v: "fal-ai/kling-video/v2.1/master/image-to-video"}},
			Runway: RunwaySettings{APIKey: "rw-key", Timeout: 90 * time.Second, Models: map[providers.Workflow]string{t2v: "veo3.1"}},
			Luma:   LumaSettings{APIKey: "luma-key", CallbackToken: "0123456789abcdef0123", Models: map[providers.Workflow]string{i2v: "ray-flash-2"}},
			Veo:    VeoSettings{APIKey: "AIza-key", Models: map[providers.Workflow]string{i2v: "veo-2.0-generate-001"}},
		}},
		{name: "secrets from files, as Kubernetes mounts them", env: map[string]string{
			"VIDGATE_REPLICATE_API_KEY_FILE":         "{dir}/replicate-key",
			"VIDGATE_REPLICATE_WEBHOOK_SECRETS_FILE": "{dir}/replicate-secrets",
			"VIDGATE_LUMA_API_KEY_FILE":              "{dir}/luma-key",
			"VIDGATE_LUMA_CALLBACK_TOKEN_FILE":       "{dir}/luma-token",
			"VIDGATE_LUMA_TIMEOUT_FILE":              "{dir}/luma-timeout",
		}, files: map[string]string{
			"replicate-key":     "r8_from_file\n",
			"replicate-secrets": secretA + "\n" + secretB + "\n",
			"luma-key":          "  luma-from-file\r\n",
			"luma-token":        "tok-0123456789abcdef\n",
			"luma-timeout":      "10s\n",
		}, want: Settings{
			Replicate: ReplicateSettings{APIKey: "r8_from_file", WebhookSecrets: []string{secretA, secretB}},
			Luma:      LumaSettings{APIKey: "luma-from-file", CallbackToken: "tok-0123456789abcdef", Timeout: 10 * time.Second},
		}},
		{name: "empty variables count as unset", env: map[string]string{
			"VIDGATE_RUNWAY_API_KEY": "", "VIDGATE_RUNWAY_TIMEOUT": " ", "VIDGATE_RUNWAY_API_KEY_FILE": "",
		}, want: Settings{}},
		{name: "a duration without a unit", env: map[string]string{"VIDGATE_RUNWAY_TIMEOUT": "30"},
			wantErr: []string{`VIDGATE_RUNWAY_TIMEOUT: "30" is not a duration such as 30s or 2m`}},
		{name: "a negative duration", env: map[string]string{"VIDGATE_VEO_TIMEOUT": "-5s"},
			wantErr: []string{"VIDGATE_VEO_TIMEOUT: -5s is not positive"}},
		{name: "a bad concurrency", env: map[string]string{"VIDGATE_FAL_CONCURRENCY": "lots", "VIDGATE_LUMA_CONCURRENCY": "-1"},
			wantErr: []string{`VIDGATE_FAL_CONCURRENCY: "lots" is not a whole number ≥ 0 (0: no limit)`,
				`VIDGATE_LUMA_CONCURRENCY: "-1" is not a whole number ≥ 0 (0: no limit)`}},
		{name: "URLs must be absolute http(s)", env: map[string]string{
			"VIDGATE_REPLICATE_BASE_URL": "api.replicate.com/v1", "VIDGATE_FAL_JWKS_URL": "ftp://rest.fal.ai/jwks",
		}, wantErr: []string{"VIDGATE_REPLICATE_BASE_URL: not an absolute http(s) URL", "VIDGATE_FAL_JWKS_URL: not an absolute http(s) URL"}},
		{name: "a fal user id with a space", env: map[string]string{"VIDGATE_FAL_USER_ID": "github|vid gate"},
			wantErr: []string{"VIDGATE_FAL_USER_ID: not a fal account id"}},
		{name: "a webhook secret without its prefix", env: map[string]string{
			"VIDGATE_REPLICATE_WEBHOOK_SECRETS": secretA + ",MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		}, wantErr: []string{"VIDGATE_REPLICATE_WEBHOOK_SECRETS: secret 2 of 2 does not start with whsec_"},
			secretsNotInErr: []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		{name: "a webhook secret that is not base64", env: map[string]string{
			"VIDGATE_REPLICATE_WEBHOOK_SECRETS": "whsec_not!base64",
		}, wantErr: []string{"VIDGATE_REPLICATE_WEBHOOK_SECRETS: secret 1 of 1: stdwebhooks: decode secret"},
			secretsNotInErr: []string{"not!base64"}},
		{name: "a short callback token", env: map[string]string{"VIDGATE_LUMA_CALLBACK_TOKEN": "hunter2"},
			wantErr:         []string{"VIDGATE_LUMA_CALLBACK_TOKEN: shorter than 16 characters"},
			secretsNotInErr: []string{"hunter2"}},
		{name: "a variable and its file", env: map[string]string{
			"VIDGATE_VEO_API_KEY": "AIza-key", "VIDGATE_VEO_API_KEY_FILE": "{dir}/veo-key",
		}, files: map[string]string{"veo-key": "AIza-other"},
			wantErr:         []string{"VIDGATE_VEO_API_KEY and VIDGATE_VEO_API_KEY_FILE are both set; set one"},
			secretsNotInErr: []string{"AIza-key", "AIza-other"}},
		{name: "a missing file", env: map[string]string{"VIDGATE_FAL_API_KEY_FILE": "{dir}/nope"},
			wantErr: []string{"VIDGATE_FAL_API_KEY_FILE: open ", "/nope: no such file or directory"}},
		{name: "an empty file", env: map[string]string{"VIDGATE_FAL_API_KEY_FILE": "{dir}/empty"},
			files:   map[string]string{"empty": "\n"},
			wantErr: []string{"VIDGATE_FAL_API_KEY_FILE: ", "/empty is empty"}},
		{name: "a file too large", env: map[string]string{"VIDGATE_FAL_API_KEY_FILE": "{dir}/big"},
			files:   map[string]string{"big": strings.Repeat("k", maxFileBytes+1)},
			wantErr: []string{"VIDGATE_FAL_API_KEY_FILE: ", "/big is larger than 64 KiB"}},
		{name: "every error at once", env: map[string]string{
			"VIDGATE_RUNWAY_TIMEOUT": "soon", "VIDGATE_VEO_CONCURRENCY": "1.5", "VIDGATE_LUMA_BASE_URL": "/relative",
		}, wantErr: []string{"VIDGATE_RUNWAY_TIMEOUT", "VIDGATE_VEO_CONCURRENCY", "VIDGATE_LUMA_BASE_URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = strings.ReplaceAll(v, "{dir}", dir)
			}
			got, err := FromEnv(mapLookup(env))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("FromEnv(%v) = %+v, nil, want an error", tt.env, got)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("FromEnv(%v) error = %q, want it to contain %q", tt.env, err, want)
					}
				}
				for _, secret := range tt.secretsNotInErr {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("FromEnv error %q quotes the secret %q", err, secret)
					}
				}
				if !reflect.DeepEqual(got, Settings{}) {
					t.Errorf("FromEnv returned %+v with its error, want zero Settings", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromEnv(%v) error = %v", tt.env, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("FromEnv(%v) =\n%+v\nwant\n%+v", tt.env, got, tt.want)
			}
		})
	}
}

func mapLookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// FromEnv reads exactly the variables Describe documents, each also as
// _FILE.
func TestDescribeMatchesFromEnv(t *testing.T) {
	t.Parallel()
	asked := map[string]bool{}
	if _, err := FromEnv(func(k string) (string, bool) { asked[k] = true; return "", false }); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, p := range Describe() {
		if len(p.Variables) == 0 {
			t.Errorf("Describe: %s has no variables", p.Name)
		}
		for _, v := range p.Variables {
			if !strings.HasPrefix(v.Name, "VIDGATE_"+strings.ToUpper(p.Name)+"_") {
				t.Errorf("Describe: %s reads %s, outside its prefix", p.Name, v.Name)
			}
			if v.Usage == "" {
				t.Errorf("Describe: %s has no usage", v.Name)
			}
			documented[v.Name], documented[v.Name+"_FILE"] = true, true
		}
	}
	if !maps.Equal(asked, documented) {
		t.Fatalf("FromEnv looks up %v,\nDescribe documents %v", slices.Sorted(maps.Keys(asked)), slices.Sorted(maps.Keys(documented)))
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	var names []string
	secret := map[string]bool{}
	updates := map[string]string{}
	for _, p := range Describe() {
		names = append(names, p.Name)
		updates[p.Name] = p.Updates()
		for _, v := range p.Variables {
			secret[v.Name] = v.Secret
		}
	}
	if want := []string{"replicate", "fal", "runway", "luma", "veo"}; !slices.Equal(names, want) {
		t.Errorf("Describe names = %v, want %v", names, want)
	}
	for name, want := range map[string]bool{
		"VIDGATE_REPLICATE_API_KEY": true, "VIDGATE_REPLICATE_WEBHOOK_SECRETS": true, "VIDGATE_LUMA_CALLBACK_TOKEN": true,
		"VIDGATE_VEO_API_KEY": true, "VIDGATE_FAL_JWKS_URL": false, "VIDGATE_RUNWAY_TIMEOUT": false,
	} {
		if secret[name] != want {
			t.Errorf("Describe: %s Secret = %v, want %v", name, secret[name], want)
		}
	}
	for name, want := range map[string]string{
		"replicate": "webhooks if VIDGATE_REPLICATE_WEBHOOK_SECRETS is set, else polling",
		"fal":       "webhooks",
		"runway":    "polling",
		"luma":      "webhooks if VIDGATE_LUMA_CALLBACK_TOKEN is set, else polling",
		"veo":       "webhooks if VIDGATE_VEO_CALLBACK_TOKEN is set, else polling",
	} {
		if updates[name] != want {
			t.Errorf("Describe: %s Updates() = %q, want %q", name, updates[name], want)
		}
	}
}

// VIDGATE_<P>_ALLOW_UNLISTED_MODELS is per provider, false by default, and
// a value that is not a boolean is an error naming the variable.
func TestAllowUnlistedModels(t *testing.T) {
	s, err := FromEnv(mapLookup(map[string]string{"VIDGATE_RUNWAY_ALLOW_UNLISTED_MODELS": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if !s.AllowsUnlistedModels("runway") || s.AllowsUnlistedModels("luma") || s.AllowsUnlistedModels("sim") {
		t.Errorf("AllowsUnlistedModels runway, luma, sim = %v, %v, %v; want true, false, false",
			s.AllowsUnlistedModels("runway"), s.AllowsUnlistedModels("luma"), s.AllowsUnlistedModels("sim"))
	}
	_, err = FromEnv(mapLookup(map[string]string{"VIDGATE_VEO_ALLOW_UNLISTED_MODELS": "maybe"}))
	if err == nil || !strings.Contains(err.Error(), "VIDGATE_VEO_ALLOW_UNLISTED_MODELS") {
		t.Errorf("FromEnv(maybe) = %v, want an error naming the variable", err)
	}
}
