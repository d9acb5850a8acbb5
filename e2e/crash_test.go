package e2e

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/webhook"
)

// TestCrashRecovery kills the daemon with SIGKILL at random points while
// pushes are queued and deploying, FORGE_CRASH_ROUNDS times (20 by default;
// CI runs fewer), restarting it each time on the same ledger. After the last
// restart the queue must drain with every accepted push deployed exactly
// once and every deploy final.
func TestCrashRecovery(t *testing.T) {
	rounds := 20
	if v, err := strconv.Atoi(os.Getenv("FORGE_CRASH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	st := newFlipStack(t, "crash")
	e, project, repo, ref, digests := st.e, st.project, st.repo, st.ref, st.digests
	secret := randomName("e2e-crash-")

	type accepted struct {
		delivery, digest string
		id               uint64
	}
	var acc []accepted
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	deadline := time.Now().Add(4 * time.Minute)
	for i := range rounds {
		if time.Now().After(deadline) {
			t.Logf("stopping after %d rounds: time bound reached", i)
			break
		}
		d := e.startDaemon(secret)
		variant := []string{"a", "b"}[i%2]
		digest := st.flip(variant)
		// Each round's push is its own delivery: spaces keep the bodies apart
		// (the same body twice is a replay, and refused).
		body := fmt.Sprintf(`{"image":%q,%s"digest":%q}`, ref, strings.Repeat(" ", i), digest)
		delivery := fmt.Sprintf("crash-%d", i)
		resp, b, err := postJSON(t.Context(), "http://"+d.addr+"/hooks/generic", []byte(body), map[string]string{
			"X-Forge-Signature-256": "sha256=" + hex.EncodeToString(webhook.Sign([]byte(body), secret)),
			"X-Forge-Delivery":      delivery,
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusAccepted {
			var a struct {
				Deploys []forge.QueuedDeploy `json:"deploys"`
			}
			if err := json.Unmarshal(b, &a); err != nil || len(a.Deploys) != 1 {
				t.Fatalf("round %d: 202 without one deploy: %s", i, b)
			}
			acc = append(acc, accepted{delivery: delivery, digest: digest, id: a.Deploys[0].ID})
		} else if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("round %d: answer %d %s", i, resp.StatusCode, b)
		}
		time.Sleep(time.Duration(rng.IntN(900)) * time.Millisecond)
		_ = d.cmd.Process.Kill() // SIGKILL: no chance to record anything
		<-d.done
	}
	if len(acc) == 0 {
		t.Fatal("no push was accepted")
	}

	// One more start: the ledger opens, recovery runs, the queue drains.
	e.startDaemon(secret)
	var hist []forge.Deploy
	for range 600 {
		hist = e.history(project)
		if unfinished(hist) == 0 {
			break
		}
		sleep()
	}
	if n := unfinished(hist); n != 0 {
		t.Fatalf("%d deploys still unfinished after the last restart: %+v", n, hist)
	}
	byID := map[uint64]forge.Deploy{}
	succeeded := map[string]int{}
	for _, h := range hist {
		byID[h.ID] = h
		if h.Status == forge.StatusSucceeded && strings.HasPrefix(h.Trigger.Delivery, "crash-") {
			succeeded[h.Trigger.Delivery]++
		}
	}
	for _, a := range acc {
		if _, ok := byID[a.id]; !ok {
			t.Errorf("accepted deploy %d (%s) is not in the ledger", a.id, a.delivery)
		}
	}
	for delivery, n := range succeeded {
		if n > 1 {
			t.Errorf("delivery %s was deployed %d times", delivery, n)
		}
	}
	// Every accepted push ends deployed: the last one's digest runs, and a
	// deploy carrying it (its own, or one a later push joined) succeeded.
	last := acc[len(acc)-1]
	web := e.container(project, "web")
	if web.Image != repo+"@"+last.digest || web.State != "running" {
		t.Fatalf("web = %+v, want the last accepted push %s running", web, last.digest)
	}
	if hist[0].Status != forge.StatusSucceeded {
		t.Fatalf("the newest deploy is %s %q, want succeeded", hist[0].Status, hist[0].Error)
	}
	interrupted := 0
	for _, h := range hist {
		if h.Status == forge.StatusInterrupted {
			interrupted++
		}
	}
	t.Logf("%d rounds, %d pushes accepted, %d deploys recorded, %d interrupted and converged again; digests %v",
		rounds, len(acc), len(hist), interrupted, digests)
}

func unfinished(hist []forge.Deploy) int {
	n := 0
	for _, h := range hist {
		if !h.Status.Final() {
			n++
		}
	}
	return n
}
