package main

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Planted secrets, distinctive enough that no other output contains them.
const (
	plantedToken    = "s3cr3t-token-7731"
	plantedNumToken = "987654321773"
	plantedPassword = "hunter2pw"
)

var planted = []string{plantedToken, plantedNumToken, plantedPassword}

// noSecrets fails the test if out contains a planted secret.
func noSecrets(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range planted {
		if strings.Contains(out, s) {
			t.Errorf("%s shows the secret %q:\n%s", what, s, out)
		}
	}
}

// The binary printed an admin.token written as a YAML number, and a
// user:pass@ URL that failed validation, verbatim: on stderr at start-up and
// in the "config reload rejected" log line.
func TestBinaryNeverPrintsSecrets(t *testing.T) {
	bin := binary(t)
	noURLs := []string{"BFF_CONFIG=", "USER_SERVICE_URL=", "CATALOG_SERVICE_URL=", "ACTIVITY_SERVICE_URL=", "BFF_ADDR=127.0.0.1:0"}

	t.Run("refused at start-up", func(t *testing.T) {
		tests := []struct {
			name string
			file string
			want []string // in stderr
		}{
			{name: "number token", file: "admin:\n  token: " + plantedNumToken + "\n",
				want: []string{"admin.token: (redacted) is not allowed"}},
			{name: "URL with userinfo", file: "services:\n  user:\n    url: \"ftp://bob:" + plantedPassword + "@host\"\n",
				want: []string{"services.user.url", "ftp://bob:xxxxx@host"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				file := filepath.Join(t.TempDir(), "bff.yaml")
				writeAtomically(t, file, tt.file)
				cmd := exec.Command(bin, "--demo", "--config", file)
				cmd.Env = append(append(os.Environ(), noURLs...), "BFF_ADMIN_TOKEN="+plantedToken)
				var stdout, stderr strings.Builder
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() == 0 {
					t.Fatalf("bff started (%v); want a refusal", err)
				}
				for _, w := range tt.want {
					if !strings.Contains(stderr.String(), w) {
						t.Errorf("stderr does not mention %q:\n%s", w, stderr.String())
					}
				}
				noSecrets(t, "stderr", stderr.String())
				noSecrets(t, "stdout", stdout.String())
			})
		}
	})

	t.Run("running, then a rejected reload", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "bff.yaml")
		writeAtomically(t, file, "page:\n  timeout: 500ms\n")
		cmd, logs, base := startBinary(t, bin,
			append(noURLs, "BFF_ADMIN_TOKEN="+plantedToken), "--demo", "--config", file)
		// Cleanups run last-registered first: kill the process before the
		// log watcher waits for its stdout to end, so that a failed wait
		// below ends the test instead of hanging it.
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
			}
		})

		// Use the token, so that request logging gets its chance to leak it.
		req, err := http.NewRequest("GET", base+"/admin/breakers", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+plantedToken)
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		} else if resp.Body.Close(); resp.StatusCode != 200 {
			t.Errorf("/admin/breakers with the token = %d, want 200", resp.StatusCode)
		}
		if status, _ := getPage(t, base); status != 200 {
			t.Errorf("page status %d", status)
		}

		writeAtomically(t, file, "admin:\n  token: "+plantedNumToken+"\n"+
			"services:\n  user:\n    url: \"ftp://bob:"+plantedPassword+"@host\"\n")
		rejected := logs.waitLog(t, `"msg":"config reload rejected; the running config stays"`)
		for _, w := range []string{"admin.token: (redacted)", "services.user.url", "ftp://bob:xxxxx@host"} {
			if !strings.Contains(rejected, w) {
				t.Errorf("reload rejected line does not mention %q:\n%s", w, rejected)
			}
		}

		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// Every line read before Wait closes the pipe.
		logs.waitLog(t, `"msg":"stopped"`)
		if err := cmd.Wait(); err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
		noSecrets(t, "stdout", strings.Join(logs.all(), "\n"))
		noSecrets(t, "stderr", cmd.Stderr.(*strings.Builder).String())
	})
}
