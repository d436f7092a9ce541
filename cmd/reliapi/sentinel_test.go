package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// TestOnRedisSentinel runs an api and a worker that find their Redis
// through a Sentinel (redis.mode: sentinel) and checks jobs go through.
func TestOnRedisSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis, a Sentinel and processes")
	}
	t.Parallel()
	master := testenv.StartRedis(t)
	sentinel := testenv.StartSentinel(t, master, "reliapi-master")
	up := testenv.StartUpstream(t)
	settings := fleetConfig(up.URL)
	settings.Redis = testenv.Section{"mode": "sentinel", "addrs": fmt.Sprintf("[%q]", sentinel), "master_name": "reliapi-master"}
	cfg := testenv.WriteConfig(t, settings)
	apiAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	api := startProc(t, "api", nil, "api", "--config", cfg, "--listen", apiAddr)
	workerAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	worker := startProc(t, "worker", nil, "worker", "--config", cfg, "--metrics-listen", workerAddr)
	base := "http://" + apiAddr
	testenv.WaitReady(t, base+"/readyz", api)
	testenv.WaitReady(t, "http://"+workerAddr+"/readyz", worker)
	client := &http.Client{Timeout: 30 * time.Second}
	for i := range 20 {
		status, body := call(t, client, "POST", base+"/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": fmt.Sprintf("/anything/%d", i)})
		if status != 200 || body["success"] != true {
			t.Fatalf("call %d through the sentinel's master: %d %v", i, status, body)
		}
	}
	// The jobs are on the master the sentinel named.
	if n := master.Client(t).Keys(t.Context(), "reliapi:job:*").Val(); len(n) != 20 {
		t.Errorf("the master holds %d job records, want 20", len(n))
	}
}
