package config

import (
	"testing"
)

func TestAuthHeader(t *testing.T) {
	t.Parallel()
	vars := env(map[string]string{"KEY": "s3cret"})
	tests := []struct {
		name                string
		auth                *Auth
		wantName, wantValue string
		wantOK              bool
	}{
		{"bearer defaults", &Auth{Type: AuthBearerEnv, EnvVar: "KEY"}, "Authorization", "Bearer s3cret", true},
		{"api_key defaults", &Auth{Type: AuthAPIKey, EnvVar: "KEY"}, "Authorization", "s3cret", true},
		{"api_key header", &Auth{Type: AuthAPIKey, EnvVar: "KEY", HeaderName: "X-API-Key"}, "X-API-Key", "s3cret", true},
		{"explicit prefix", &Auth{Type: AuthAPIKey, EnvVar: "KEY", Prefix: ptr("Token ")}, "Authorization", "Token s3cret", true},
		{"explicit empty prefix", &Auth{Type: AuthBearerEnv, EnvVar: "KEY", Prefix: ptr("")}, "Authorization", "s3cret", true},
		{"empty env var", &Auth{Type: AuthBearerEnv, EnvVar: "UNSET"}, "", "", false},
		{"unknown type", &Auth{Type: "basic", EnvVar: "KEY"}, "", "", false},
		{"nil auth", nil, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name, value, ok := tt.auth.header(vars)
			if name != tt.wantName || value != tt.wantValue || ok != tt.wantOK {
				t.Errorf("header() = %q, %q, %v; want %q, %q, %v", name, value, ok, tt.wantName, tt.wantValue, tt.wantOK)
			}
		})
	}
}

// TestAuthHeaderReadsEnvironment is not parallel: it sets an environment
// variable, and Header must read it at call time.
func TestAuthHeaderReadsEnvironment(t *testing.T) {
	a := &Auth{Type: AuthBearerEnv, EnvVar: "RELIAPI_CONFIG_TEST_KEY"}
	t.Setenv("RELIAPI_CONFIG_TEST_KEY", "")
	if _, _, ok := a.Header(); ok {
		t.Fatal("Header() ok with the variable empty")
	}
	t.Setenv("RELIAPI_CONFIG_TEST_KEY", "rotated")
	name, value, ok := a.Header()
	if name != "Authorization" || value != "Bearer rotated" || !ok {
		t.Fatalf("Header() = %q, %q, %v; want Authorization, Bearer rotated, true", name, value, ok)
	}
}
