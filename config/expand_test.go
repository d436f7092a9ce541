package config

import "testing"

func TestExpand(t *testing.T) {
	t.Parallel()
	getenv := env(map[string]string{"A": "alpha", "B_2": "beta", "REF": "${A}", "EMPTY": ""})
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x${A}y${B_2}z", want: "xalphaybetaz"},
		{in: "${_UNSET}", want: ""},
		{in: "${UNSET:-fallback}", want: "fallback"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${A:-fallback}", want: "alpha"},
		{in: "${UNSET:-a:-b}", want: "a:-b"},
		{in: "${UNSET:-}", want: ""},
		{in: "${REF}", want: "${A}"},
		{in: "$", want: "$"},
		{in: "$$", want: "$$"},
		{in: "$A", want: "$A"},
		{in: "a$b$$c{}", want: "a$b$$c{}"},
		{in: "$${A}", want: "${A}"},
		{in: "$${A}${A}", want: "${A}alpha"},
		{in: "${A}}", want: "alpha}"},
		{in: "${", wantErr: `unterminated "${": write ${VAR} or ${VAR:-default}, or $${ for a literal ${`},
		{in: "${}", wantErr: `invalid reference "${}": write ${VAR} or ${VAR:-default}, where VAR is letters, digits and _`},
		{in: "${:-x}", wantErr: `invalid reference "${:-x}": write ${VAR} or ${VAR:-default}, where VAR is letters, digits and _`},
		{in: "${A B}", wantErr: `invalid reference "${A B}": write ${VAR} or ${VAR:-default}, where VAR is letters, digits and _`},
		{in: "${9A}", wantErr: `invalid reference "${9A}": write ${VAR} or ${VAR:-default}, where VAR is letters, digits and _`},
		{in: "${A:=x}", wantErr: `invalid reference "${A:=x}": write ${VAR} or ${VAR:-default}, where VAR is letters, digits and _`},
		{in: "${A:-${B_2}}", wantErr: `invalid reference "${A:-${B_2}": a default cannot hold another reference`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := expand(tt.in, getenv)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("expand(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
