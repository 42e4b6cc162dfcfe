package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser tests drive the web demo (web-demo/) in headless Chromium
// against the real server in dev mode, and assert on what a user sees.

const chromiumPath = "/usr/bin/chromium"

// browserWait bounds each wait for something to show up on a page; the
// test's own context bounds the whole test.
const browserWait = 20 * time.Second

// page is one browser (its own process and profile) showing the demo.
type page struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// newPage starts a headless Chromium with a fresh profile and opens base
// in a width x height viewport. The browser ends with ctx or the test.
func newPage(t *testing.T, ctx context.Context, name, base string, width, height int) *page {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser tests need Chromium at %s (Debian: apt-get install -y chromium; make test installs it): %v", chromiumPath, err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), // /dev/shm is small in containers
		chromedp.Flag("hide-scrollbars", true),       // steady screenshots
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	bctx, cancel := chromedp.NewContext(alloc, chromedp.WithLogf(func(string, ...any) {}))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser, which lives as long as the
	// context it ran on: run it on bctx, not on a shorter one.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("%s: start Chromium: %v", name, err)
	}
	// An uncaught exception in the page is a bug even when the screen
	// looks right: collect them and fail the test.
	var mu sync.Mutex
	var uncaught []string
	err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok && e.ExceptionDetails != nil {
			text := e.ExceptionDetails.Text
			if x := e.ExceptionDetails.Exception; x != nil {
				text += " " + x.Description
			}
			mu.Lock()
			uncaught = append(uncaught, text)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, u := range uncaught {
			t.Errorf("%s: uncaught in the page: %s", name, u)
		}
	})
	p := &page{t: t, name: name, ctx: bctx}
	p.do("open the demo", chromedp.EmulateViewport(int64(width), int64(height)), chromedp.Navigate(base), chromedp.WaitVisible(chromedp.ID("login-user")))
	return p
}

func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// eval runs a JavaScript expression and decodes its value into T.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, expr, err)
	}
	return v
}

// waitFor polls expr in the page until it is truthy; on timeout it fails
// with what the page shows for show (a JavaScript expression).
func (p *page) waitFor(what, expr, show string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(browserWait)))
	if err != nil {
		shown := "?"
		if show != "" {
			sctx, scancel := context.WithTimeout(p.ctx, 5*time.Second)
			if v, e := chromedp.Run(sctx, chromedp.Evaluate[any](show)); e == nil {
				b, _ := json.Marshal(v)
				shown = string(b)
			}
			scancel()
		}
		p.t.Fatalf("%s: waiting until %s: %v; the page shows %s", p.name, what, err, shown)
	}
}

// screenshot saves the viewport as name.png in the test's temporary
// directory, and in docs/screenshots when LOFT_SCREENSHOTS=1.
func (p *page) screenshot(dir, name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot %s: %v", p.name, name, err)
	}
	dirs := []string{dir}
	if os.Getenv("LOFT_SCREENSHOTS") == "1" {
		dirs = append(dirs, filepath.Join("..", "..", "docs", "screenshots"))
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

// JavaScript that reads what a user sees.
const (
	jsMessages = `[...document.querySelectorAll('#messages li.msg')].map(li => li.querySelector('.text').textContent)`
	jsTicks    = `[...document.querySelectorAll('#messages li.msg.mine')].map(li => li.querySelector('.text').textContent + ':' + li.querySelector('.tick').dataset.state)`
	jsConvs    = `[...document.querySelectorAll('#conv-list li')].map(li => li.innerText.replace(/\s+/g, ' '))`
	jsPush     = `[...document.querySelectorAll('#push-list li')].map(li => li.dataset.status + ' ' + li.innerText.replace(/\s+/g, ' '))`
	jsDevices  = `[...document.querySelectorAll('#device-list li')].map(li => li.dataset.device + ':' + li.dataset.online)`
)

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// signIn fills the login form; in dev mode the page gets its own token.
func (p *page) signIn(user, device string, shot func()) {
	p.t.Helper()
	p.do("fill the login form", chromedp.SetValue(chromedp.ID("login-user"), user), chromedp.SetValue(chromedp.ID("login-device"), device))
	if shot != nil {
		shot()
	}
	p.do("sign in", chromedp.Click(chromedp.ID("login-submit")))
	p.waitFor("the chat screen shows", `!document.getElementById('main').hidden`, `document.getElementById('login-error').textContent`)
	p.waitFor("the connection is online", `document.getElementById('conn').dataset.state === 'online'`, `document.getElementById('conn').textContent`)
	if got := eval[string](p, `document.getElementById('me').textContent`); got != user+" · "+device {
		p.t.Fatalf("%s: signed in as %q", p.name, got)
	}
}

// clickWhenThere waits until the JavaScript expression el gives an
// element, then clicks it: for controls that appear on hover or focus.
func (p *page) clickWhenThere(what, el string) {
	p.t.Helper()
	p.waitFor(what+" is there", el, `document.getElementById('messages')?.innerText`)
	p.do(what, chromedp.Evaluate[chromedp.Void]("("+el+").click()"))
}

// startChat opens the direct chat with peer from the "Chat with" box.
func (p *page) startChat(peer string) {
	p.t.Helper()
	p.do("start a chat with "+peer, chromedp.SetValue(chromedp.ID("new-chat-user"), peer), chromedp.Click(chromedp.CSS("#new-chat button")))
	p.waitFor("the chat with "+peer+" is open", `document.getElementById('chat-title').textContent === `+jsString(peer), `document.getElementById('chat-title').textContent`)
}

// openConv clicks a conversation in the list.
func (p *page) openConv(conv string) {
	p.t.Helper()
	sel := fmt.Sprintf(`#conv-list li[data-conv=%q] button`, conv)
	p.do("open "+conv, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// enter presses Enter in the focused element the way a keyboard does it
// when the page cancels the keydown: SendKeys' "\r" adds a char event
// that a browser would not send then, and it would type a line break.
var enter = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
		})
		if err != nil {
			return err
		}
	}
	return nil
})

// say types text into the message box and presses Enter.
func (p *page) say(text string) {
	p.t.Helper()
	p.do("send "+text, chromedp.SendKeys(chromedp.ID("composer-input"), text), enter)
	p.waitFor("the message box is empty after sending", `document.getElementById('composer-input').value === ''`, `document.getElementById('composer-input').value`)
}

// waitMessages waits until the open chat shows exactly these messages, in
// this order: a duplicate or a gap fails.
func (p *page) waitMessages(want ...string) {
	p.t.Helper()
	w, _ := json.Marshal(want)
	p.waitFor(fmt.Sprintf("the chat shows %s", w), `JSON.stringify(`+jsMessages+`) === `+jsString(string(w)), jsMessages)
}

// demoServer runs the server in dev mode on dir; it serves the demo at base
// and the WebSocket at addr.
func demoServer(t *testing.T, dir string) (base, addr string) {
	t.Helper()
	addr, _ = startServe(t, dir)
	return "http://" + addr + "/", addr
}

func browserContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Two users chat: unread badge, presence, typing, read ticks, edit, recall, a group.
func TestBrowserChat(t *testing.T) {
	ctx := browserContext(t)
	base, _ := demoServer(t, t.TempDir())
	shots := t.TempDir()

	alice := newPage(t, ctx, "alice", base, 1280, 800)
	alice.signIn("alice", "web-alice", func() { alice.screenshot(shots, "login") })
	bob := newPage(t, ctx, "bob", base, 1280, 800)
	bob.signIn("bob", "web-bob", nil)

	// Every control can be named by assistive technology.
	alice.waitFor("every field has a label and every button a name",
		`[...document.querySelectorAll('input, textarea')].every(el => el.labels.length > 0) && [...document.querySelectorAll('button')].every(b => (b.getAttribute('aria-label') || b.textContent).trim() !== '')`,
		`[...document.querySelectorAll('input, textarea, button')].filter(el => el.labels ? !el.labels.length : !(el.getAttribute('aria-label') || el.textContent).trim()).map(el => el.id || el.outerHTML)`)

	alice.startChat("bob")
	alice.say("hello bob")
	alice.waitFor("the message is stored (a tick, not a clock)", jsTicks+`.join() .match(/^hello bob:(sent|delivered|read)$/)`, jsTicks)

	const conv = "d:alice:bob"
	bob.waitFor("the chat with alice shows 1 unread", fmt.Sprintf(`document.querySelector('#conv-list li[data-conv=%q] .badge')?.textContent === '1'`, conv), jsConvs)
	// bob's page holds it but bob has not opened the chat: delivered, not read.
	alice.waitFor("alice sees it delivered", jsTicks+`.join() === 'hello bob:delivered'`, jsTicks)
	bob.openConv(conv)
	bob.waitMessages("hello bob")
	bob.waitFor("the badge is gone once read", fmt.Sprintf(`!document.querySelector('#conv-list li[data-conv=%q] .badge')`, conv), jsConvs)

	alice.waitFor("alice sees bob read it", jsTicks+`.join() === 'hello bob:read'`, jsTicks)
	alice.waitFor("alice sees bob online", `document.getElementById('chat-sub').textContent === 'online' && document.getElementById('chat-dot').dataset.online === 'true'`, `document.getElementById('chat-sub').textContent`)

	// Typing shows up on the other side, and goes away with the message.
	bob.do("type", chromedp.SendKeys(chromedp.ID("composer-input"), "hi alice"))
	alice.waitFor("alice sees bob typing", `document.getElementById('typing').textContent === 'bob is typing…'`, `document.getElementById('typing').textContent`)
	bob.do("send", chromedp.Focus(chromedp.ID("composer-input")), enter)
	alice.waitMessages("hello bob", "hi alice")
	alice.waitFor("the typing line clears", `document.getElementById('typing').textContent === ''`, `document.getElementById('typing').textContent`)
	bob.waitFor("bob's reply is read by alice", jsTicks+`.join() === 'hi alice:read'`, jsTicks)

	// Edit and recall one's own messages; the other side follows.
	alice.say("see you at 8")
	bob.waitMessages("hello bob", "hi alice", "see you at 8")
	alice.clickWhenThere("the edit button", `document.querySelector('#messages li.mine:last-of-type button[aria-label^="Edit"]')`)
	alice.waitFor("the message box holds the text to edit", `document.getElementById('composer-input').value === 'see you at 8' && !document.getElementById('editing').hidden`, `document.getElementById('composer-input').value`)
	alice.do("change the text", chromedp.Evaluate[chromedp.Void](`document.getElementById('composer-input').value = ''`), chromedp.SendKeys(chromedp.ID("composer-input"), "see you at 9"), enter)
	bob.waitMessages("hello bob", "hi alice", "see you at 9")
	bob.waitFor("bob sees it edited", `document.querySelector('#messages li.msg:last-of-type .edited') !== null`, `document.querySelector('#messages li.msg:last-of-type').innerText`)
	alice.say("oops, wrong chat")
	bob.waitMessages("hello bob", "hi alice", "see you at 9", "oops, wrong chat")
	alice.clickWhenThere("the recall button", `[...document.querySelectorAll('#messages li.mine')].find(li => li.innerText.includes('oops'))?.querySelector('button[aria-label^="Recall"]')`)
	bob.waitMessages("hello bob", "hi alice", "see you at 9", "alice recalled this message")
	alice.waitMessages("hello bob", "hi alice", "see you at 9", "You recalled this message")
	alice.waitFor("the ticks show what bob read", jsTicks+`.slice(0, 2).join() === 'hello bob:read,see you at 9:read'`, jsTicks)
	alice.screenshot(shots, "chat")

	// A group with bob, created from the sidebar.
	alice.do("create a group",
		chromedp.Click(chromedp.CSS("#new-group summary")),
		chromedp.SetValue(chromedp.ID("group-name"), "trip"),
		chromedp.SetValue(chromedp.ID("group-users"), "bob"),
		chromedp.Click(chromedp.CSS("#new-group-form button")),
	)
	alice.waitFor("the group is open", `document.getElementById('chat-title').textContent === 'trip'`, `document.getElementById('chat-title').textContent`)
	alice.say("hi all")
	bob.waitFor("bob's list has the group with its last message", `[...document.querySelectorAll('#conv-list li[data-conv^="g:"]')].some(li => li.innerText.includes('trip') && li.innerText.includes('hi all'))`, jsConvs)
	bob.clickWhenThere("the group in bob's list", `document.querySelector('#conv-list li[data-conv^="g:"] button')`)
	bob.waitFor("bob sees the group's message", jsMessages+`.includes('hi all')`, jsMessages)
	alice.waitFor("alice sees the group message read by bob", `document.querySelector('#messages li.mine:last-of-type .read-by')?.textContent === 'read by 1 of 1' && `+jsTicks+`.join() === 'hi all:read'`, jsTicks)
}

// A second device of the same user sees the same history, live, and the
// devices panel lists both; reading on one clears the badge on the other.
func TestBrowserSecondDevice(t *testing.T) {
	ctx := browserContext(t)
	dir := t.TempDir()
	base, addr := demoServer(t, dir)
	shots := t.TempDir()

	laptop := newPage(t, ctx, "alice's laptop", base, 1280, 800)
	laptop.signIn("alice", "laptop", nil)
	laptop.startChat("bob")
	laptop.say("sent from the laptop")
	laptop.waitMessages("sent from the laptop")

	phone := newPage(t, ctx, "alice's phone", base, 390, 844)
	phone.signIn("alice", "phone", nil)
	const conv = "d:alice:bob"
	phone.waitFor("the phone lists the chat", fmt.Sprintf(`document.querySelector('#conv-list li[data-conv=%q]')?.innerText.includes('You: sent from the laptop')`, conv), jsConvs)
	phone.openConv(conv)
	phone.waitMessages("sent from the laptop")
	phone.say("sent from the phone")
	laptop.waitMessages("sent from the laptop", "sent from the phone")
	laptop.waitFor("both are the user's own messages on the laptop", `document.querySelectorAll('#messages li.msg.mine').length === 2`, jsTicks)

	laptop.waitFor("the laptop lists both devices online", jsDevices+`.sort().join() === 'laptop:true,phone:true'`, jsDevices)
	laptop.screenshot(shots, "devices")

	// bob, from a plain WebSocket client, writes while neither device has
	// the chat open: both count it unread, until the phone reads it.
	laptop.do("go back to the list", chromedp.Evaluate[chromedp.Void](`document.getElementById('back').click()`))
	phone.do("go back to the list", chromedp.Click(chromedp.ID("back")), chromedp.WaitVisible(chromedp.ID("conv-list")))
	bob := login(t, addr, tokenFor(t, dir, "bob"), "bob-cli")
	exchange(t, bob, `{"type":"send","to":"alice","cid":"b1","body":{"text":"got both"}}`, "ack")
	badge := fmt.Sprintf(`document.querySelector('#conv-list li[data-conv=%q] .badge')?.textContent`, conv)
	for _, p := range []*page{laptop, phone} {
		p.waitFor("the list shows bob's message unread", badge+` === '1' && `+fmt.Sprintf(`document.querySelector('#conv-list li[data-conv=%q]').innerText.includes('got both')`, conv), jsConvs)
	}
	phone.openConv(conv)
	phone.waitMessages("sent from the laptop", "sent from the phone", "got both")
	laptop.waitFor("the laptop's badge clears: the phone read it", `!(`+badge+`)`, jsConvs)
	phone.screenshot(shots, "phone")

	// On a phone-sized screen the devices and push panels are one tap away.
	phone.do("open the side panel", chromedp.Click(chromedp.ID("show-side")), chromedp.WaitVisible(chromedp.ID("device-list")))
}

// A user goes offline with the toggle; what is sent meanwhile shows in the
// push inbox (polled over HTTP while the socket is closed); back online,
// the chat gets the missed messages in order, once each, and the sender
// sees them read.
func TestBrowserOfflinePush(t *testing.T) {
	ctx := browserContext(t)
	base, _ := demoServer(t, t.TempDir())
	shots := t.TempDir()

	alice := newPage(t, ctx, "alice", base, 1280, 800)
	alice.signIn("alice", "web-alice", nil)
	bob := newPage(t, ctx, "bob", base, 1280, 800)
	bob.signIn("bob", "web-bob", nil)

	const conv = "d:alice:bob"
	alice.startChat("bob")
	alice.say("before")
	bob.openConv(conv)
	bob.waitMessages("before")
	alice.waitFor("bob read it", jsTicks+`.join() === 'before:read'`, jsTicks)

	bob.do("go offline", chromedp.Click(chromedp.ID("toggle-online")))
	bob.waitFor("bob's page says it is offline", `document.getElementById('conn').dataset.state === 'offline' && document.getElementById('toggle-online').getAttribute('aria-pressed') === 'true'`, `document.getElementById('conn').textContent`)
	alice.waitFor("alice sees bob offline", `document.getElementById('chat-sub').textContent.startsWith('last seen')`, `document.getElementById('chat-sub').textContent`)

	for _, m := range []string{"one", "two", "three"} {
		alice.say(m)
	}
	alice.waitFor("the three are stored, not delivered: bob's only device is offline", jsTicks+`.slice(1).every(s => /:sent$/.test(s)) && `+jsTicks+`.length === 4`, jsTicks)

	// bob's only device is offline: after the push grace the log vendor
	// pushes each message to it, and the push inbox shows them.
	pushed := func(body string) string {
		return fmt.Sprintf(`[...document.querySelectorAll('#push-list li[data-status="pushed"][data-device="web-bob"]')].some(li => li.querySelector('.push-title')?.textContent === 'alice' && li.querySelector('.push-body')?.textContent === %s && li.innerText.includes('via log'))`, jsString(body))
	}
	for _, m := range []string{"one", "two", "three"} {
		bob.waitFor("the push inbox shows "+m+" pushed via log", pushed(m), jsPush)
	}
	if got := eval[[]string](bob, jsMessages); strings.Join(got, ",") != "before" {
		t.Fatalf("bob's chat shows %q while offline", got)
	}
	// "before" was shown, and confirmed when bob went offline: not pushed.
	if got := eval[[]string](bob, `[...document.querySelectorAll('#push-list li[data-status="pushed"] .push-body')].map(b => b.textContent).sort()`); strings.Join(got, ",") != "one,three,two" {
		t.Fatalf("bob's push inbox shows pushed %q, want one, two, three", got)
	}
	bob.waitFor("the devices panel says it is not current", `!document.getElementById('devices-note').hidden`, jsDevices)
	bob.screenshot(shots, "push-inbox")

	bob.do("go online", chromedp.Click(chromedp.ID("toggle-online")))
	bob.waitFor("bob's page is online again", `document.getElementById('conn').dataset.state === 'online'`, `document.getElementById('conn').textContent`)
	bob.waitMessages("before", "one", "two", "three")
	alice.waitFor("alice sees all read", jsTicks+`.join() === 'before:read,one:read,two:read,three:read'`, jsTicks)
	// Still exactly once a moment later: no late duplicate from the sync.
	bob.waitMessages("before", "one", "two", "three")

	// Muted, the chat is not pushed, and the inbox says why.
	bob.do("mute the chat", chromedp.Click(chromedp.ID("mute")))
	bob.waitFor("the chat is muted", `document.getElementById('mute').getAttribute('aria-pressed') === 'true' && document.querySelector('#conv-list li .muted-icon') !== null`, jsConvs)
	bob.do("go offline", chromedp.Click(chromedp.ID("toggle-online")))
	bob.waitFor("bob's page says it is offline", `document.getElementById('conn').dataset.state === 'offline'`, `document.getElementById('conn').textContent`)
	alice.say("four")
	muted := `[...document.querySelectorAll('#push-list li[data-status="not_pushed"]')].find(li => li.innerText.includes('conversation muted'))`
	bob.waitFor("the push inbox says a message was held back by the mute", muted, jsPush)
	bob.do("go online", chromedp.Click(chromedp.ID("toggle-online")))
	bob.waitMessages("before", "one", "two", "three", "four")
	bob.waitFor("the held-back push names the message once bob has it", muted+`.innerText.includes('alice: four')`, jsPush)
}

// cutter is a TCP proxy in front of the server that can drop every
// connection through it and refuse new ones: a network outage, as the page
// sees it, while the server stays up.
type cutter struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool       // guarded by mu: refuse connections
	conns []net.Conn // guarded by mu: both ends of every proxied connection
}

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); c.setDown(true) })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			down := c.down
			c.mu.Unlock()
			if down {
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return c
}

// setDown drops every connection and refuses new ones (true), or accepts
// them again (false).
func (c *cutter) setDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
	if down {
		for _, conn := range c.conns {
			conn.Close()
		}
		c.conns = nil
	}
}

// The network goes away under the page: it says it is reconnecting, keeps
// what is typed meanwhile, and when the network is back it resumes from its
// cursor (what was missed, in order, once) and sends what waited. It also
// pages the history backwards.
func TestBrowserReconnect(t *testing.T) {
	ctx := browserContext(t)
	dir := t.TempDir()
	_, addr := demoServer(t, dir)
	link := newCutter(t, addr)

	bob := login(t, addr, tokenFor(t, dir, "bob"), "bob-cli")
	var want []string
	for i := 1; i <= 45; i++ {
		text := fmt.Sprintf("old %02d", i)
		exchange(t, bob, fmt.Sprintf(`{"type":"send","to":"alice","cid":"o%d","body":{"text":%q}}`, i, text), "ack")
		want = append(want, text)
	}

	alice := newPage(t, ctx, "alice", "http://"+link.ln.Addr().String()+"/", 1280, 800)
	alice.signIn("alice", "web-alice", nil)
	const conv = "d:alice:bob"
	alice.openConv(conv)
	alice.waitMessages(want[15:]...) // the newest page
	alice.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`document.getElementById('messages').scrollTop = 0`))
	alice.waitMessages(want...)

	link.setDown(true)
	alice.waitFor("the page says it is reconnecting", `document.getElementById('conn').dataset.state === 'waiting' && document.getElementById('conn').textContent.startsWith('Reconnecting')`, `document.getElementById('conn').textContent`)
	exchange(t, bob, `{"type":"send","to":"alice","cid":"n1","body":{"text":"new 1"}}`, "ack")
	exchange(t, bob, `{"type":"send","to":"alice","cid":"n2","body":{"text":"new 2"}}`, "ack")
	alice.say("written while away")
	alice.waitFor("it waits with a clock", jsTicks+`.join() === 'written while away:pending'`, jsTicks)

	link.setDown(false)
	alice.waitFor("the page is online again", `document.getElementById('conn').dataset.state === 'online'`, `document.getElementById('conn').textContent`)
	alice.waitMessages(append(want, "new 1", "new 2", "written while away")...)
	alice.waitFor("what waited is stored", jsTicks+`.join().match(/^written while away:(sent|delivered|read)$/)`, jsTicks)

	// bob's client gets alice's message once.
	f := exchange(t, bob, `{"type":"history","id":"h","conv":"d:alice:bob","limit":3}`, "history")
	var texts []string
	for _, m := range f.Messages {
		var body struct{ Text string }
		json.Unmarshal(m.Body, &body)
		texts = append(texts, body.Text)
	}
	if strings.Join(texts, "|") != "new 1|new 2|written while away" {
		t.Fatalf("the conversation ends with %q", texts)
	}
}

// A server with its own token secret has no /dev/token: the page asks for
// a token instead, signs in with it, and says the push inbox needs dev mode.
func TestBrowserPastedToken(t *testing.T) {
	ctx := browserContext(t)
	srv := startLoft(t, t.TempDir())
	carol := newPage(t, ctx, "carol", "http://"+srv.addr+"/", 1280, 800)
	carol.do("fill the login form", chromedp.SetValue(chromedp.ID("login-user"), "carol"), chromedp.SetValue(chromedp.ID("login-device"), "web-carol"), chromedp.Click(chromedp.ID("login-submit")))
	carol.waitFor("the page asks for a token", `!document.getElementById('token-field').hidden && document.getElementById('login-error').textContent.includes('paste a token')`, `document.getElementById('login-error').textContent`)
	carol.do("paste a token",
		chromedp.Evaluate[chromedp.Void](`document.getElementById('login-token').value = `+jsString(mintToken(t, "carol"))),
		chromedp.Click(chromedp.ID("login-submit")))
	carol.waitFor("the connection is online", `document.getElementById('conn').dataset.state === 'online'`, `document.getElementById('conn').textContent`)
	carol.waitFor("the push inbox says it needs dev mode", `document.getElementById('push-empty').textContent.includes('dev mode')`, `document.getElementById('push-empty').textContent`)
}
