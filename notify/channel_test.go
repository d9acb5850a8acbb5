package notify

import (
	"strings"
	"testing"
)

func testKeys(t *testing.T) *Keys {
	t.Helper()
	k, err := NewKeys([]byte("a test key"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCheckAcceptsShoutrrrURLs(t *testing.T) {
	k := testKeys(t)
	for _, u := range []string{
		"generic://127.0.0.1:8080/hook?disabletls=yes&template=json",
		"generic+https://hooks.example.com/forge",
		"ntfy://ntfy.example.com/deploys",
		"mattermost://chat.example.com/abcdefghijklmnop",
		"slack://hook:T00000000-B00000000-XXXXXXXXXXXXXXXXXXXXXXXX@webhook",
		"smtp://forge:pw@mail.example.com:587/?from=forge@example.com&to=ops@example.com",
		"telegram://110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw@telegram?chats=@ops",
	} {
		ch, err := k.Check(u)
		if err != nil {
			t.Errorf("Check(%s) = %v, want it accepted", u, err)
		}
		if ch.URL != u {
			t.Errorf("Check(%s) kept %q", u, ch.URL)
		}
	}
}

func TestCheckRefusesWithoutRepeatingTheURL(t *testing.T) {
	k := testKeys(t)
	for _, u := range []string{
		"nosuch://alice:hunter2secret@example.com/x",
		"slack://hunter2secret",
		"not a url at all hunter2secret",
		"",
	} {
		_, err := k.Check(u)
		if err == nil {
			t.Errorf("Check(%q) accepted it", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2secret") || strings.Contains(err.Error(), "alice") {
			t.Errorf("Check(%q) = %q: the error repeats a credential", u, err)
		}
	}
}

func TestNameMasks(t *testing.T) {
	k := testKeys(t)
	tests := []struct{ url, prefix string }{
		{"ntfy://ntfy.example.com/deploys-topic-secret", "ntfy://ntfy.example.com#"},
		{"generic+https://hooks.example.com/path/TOKENTOKEN?x=1", "generic+https://hooks.example.com#"},
		{"smtp://forge:hunter2@mail.example.com:587/?to=a@b.c", "smtp://…#"},
		{"pushbullet://o.hunter2secrettoken/", "pushbullet://…#"}, // its host is its token
		{"::", "invalid#"},
	}
	for _, tt := range tests {
		got := k.Name(tt.url)
		if !strings.HasPrefix(got, tt.prefix) || len(got) != len(tt.prefix)+8 {
			t.Errorf("Name(%s) = %s, want %s and an 8-digit tag", tt.url, got, tt.prefix)
		}
		for _, secret := range []string{"hunter2", "TOKENTOKEN", "deploys-topic-secret"} {
			if strings.Contains(got, secret) {
				t.Errorf("Name(%s) = %s shows %s", tt.url, got, secret)
			}
		}
	}
	if k.Name("ntfy://a.example.com/one") == k.Name("ntfy://a.example.com/two") {
		t.Error("two channels of one host have one name")
	}
	other, _ := NewKeys([]byte("another key"))
	if k.Name("ntfy://a.example.com/one") == other.Name("ntfy://a.example.com/one") {
		t.Error("the tag does not depend on the key: it could be checked against a guessed URL anywhere")
	}
}

func TestSealOpens(t *testing.T) {
	k := testKeys(t)
	const u = "slack://hook:T00000000-B00000000-XXXX@webhook"
	sealed := k.Seal(u)
	if strings.Contains(string(sealed), "XXXX") {
		t.Fatal("the sealed URL is readable")
	}
	if got, err := k.Open(sealed); err != nil || got != u {
		t.Fatalf("Open = %q, %v; want the URL back", got, err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k.Open(sealed); err == nil {
		t.Fatal("a tampered seal opened")
	}
	other, _ := NewKeys([]byte("another key"))
	if _, err := other.Open(k.Seal(u)); err == nil {
		t.Fatal("another key opened the seal")
	}
}

func TestScrub(t *testing.T) {
	const u = "generic+https://bob:hunter2pass@hooks.example.com/T0KENPATHPART?apikey=QUERYSECRET1"
	msg := "POST https://hooks.example.com/T0KENPATHPART?apikey=QUERYSECRET1 failed for bob:hunter2pass: " + u
	got := Scrub(msg, u)
	for _, secret := range []string{"hunter2pass", "T0KENPATHPART", "QUERYSECRET1", u} {
		if strings.Contains(got, secret) {
			t.Errorf("Scrub left %q in %q", secret, got)
		}
	}
	if !strings.Contains(got, "failed") {
		t.Errorf("Scrub = %q, lost the message", got)
	}
}
