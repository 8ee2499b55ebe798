// The softphone page: shows, speaks and plays what the server's caller simulator reports.
// No TwiML is read here; every rule of Twilio's lives in ivr.caller on the server.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const api = document.body.dataset.api;
  const KEYS = "0123456789*#";

  let call = null; // the server's id for the call in progress
  let waiting = null; // what the call waits for: {for: "gather" | "queue" | "dial" | ...}
  let buffer = ""; // keys pressed but not yet sent (multi-digit gathers)
  let inFlight = false;

  // -- talking to the server ---------------------------------------------------------------

  async function post(path, data) {
    const response = await fetch(api + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(data || {}),
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (response.status === 401) {
      // The sign-in expired (IVR_PHONE_SESSION_HOURS): the page's reload asks for the token.
      throw new Error("signed out (the sign-in has expired): reload the page to sign in again");
    }
    if (!response.ok) {
      throw new Error((body && body.error) || `HTTP ${response.status}`);
    }
    return body;
  }

  async function send(path, data) {
    if (inFlight || !call) return;
    inFlight = true;
    const id = call;
    if (path !== "poll") silenceAll(); // acting cuts the prompt or the hold music short
    try {
      const step = await post(path, { call: id, ...data });
      if (call === id) apply(step); // not if the caller hung up meanwhile
    } catch (error) {
      setStatus(`Problem: ${error.message}`);
      if (/no such call/.test(error.message)) ended(null);
    } finally {
      inFlight = false;
      render();
    }
  }

  // -- what happened -----------------------------------------------------------------------

  function apply(step) {
    call = step.call;
    step.events.forEach(show);
    waiting = step.waiting;
    highlight(step.node, step.trail || []);
    if (waiting.for === "ended") {
      ended(step.outcome, step.script);
    } else if (waiting.for === "busy") {
      setStatus("The call is still working…");
      setTimeout(() => send("poll", {}), 300);
    } else {
      setStatus(describeWaiting(waiting));
    }
  }

  function describeWaiting(w) {
    if (w.for === "gather") {
      const what = [];
      if (w.input.includes("dtmf")) what.push("keys");
      if (w.input.includes("speech")) what.push("speech");
      return `Listening for ${what.join(" or ")}` + (w.num_digits ? ` (${w.num_digits} digit)` : "") + ".";
    }
    if (w.for === "queue") return `On hold in queue ${w.queue}, position ${w.position}.`;
    if (w.for === "dial") return "A transfer is ringing: choose what happens.";
    return "";
  }

  function line(text, className, lang) {
    const item = document.createElement("li");
    if (className) item.className = className;
    if (lang) item.lang = lang;
    item.textContent = text;
    $("transcript").appendChild(item);
    item.scrollIntoView({ block: "nearest" });
    return item;
  }

  function show(e) {
    switch (e.kind) {
      case "say": {
        const item = line("", "say");
        const who = document.createElement("span");
        who.className = "who";
        who.textContent = `${e.voice || "default voice"}, ${e.language || "en-US"}: `;
        const words = document.createElement("span");
        words.lang = e.language || "en-US";
        words.textContent = e.text;
        item.append(who, words);
        const times = e.loop === 0 ? 1 : e.loop || 1;
        for (let i = 0; i < times; i++) speak(e.text, e.language || "en-US");
        break;
      }
      case "play":
        if (e.detail && e.detail.hold_music) {
          line("[hold music]", "play");
        } else if (e.url) {
          line(`[recording ${e.url}]`, "play");
          play(e.url);
        } else {
          line(`[tones ${e.digits}]`, "play");
        }
        break;
      case "input":
        line(e.line.replace(/^>\s*/, "You: ").replace("caller ", ""), "you");
        break;
      case "node":
        line(`at menu node ${e.text}`, "node");
        break;
      case "queue-wait":
        line(`holding in ${e.queue}: position ${e.position}, ${e.seconds || 0}s so far`, "queue");
        break;
      case "error":
        line(`Application error: ${e.text}`, "error");
        if (e.detail && e.detail.twilio_says) speak(e.detail.twilio_says, "en-US");
        break;
      default:
        if (e.line) line(e.line.trim(), e.kind);
    }
  }

  function ended(outcome, script) {
    call = null;
    waiting = null;
    buffer = "";
    const summary = outcome ? outcome.summary : "The call is over.";
    $("outcome").textContent = `Call ended: ${summary}`;
    offerScript(script);
    setStatus(`Call ended: ${summary}`);
    render();
  }

  // The call as a call script: `ivr test recorded-call.yaml` replays it.
  function offerScript(script) {
    const link = $("script-download");
    if (link.href && link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    $("script").hidden = !script;
    if (!script) {
      link.removeAttribute("href");
      return;
    }
    link.href = URL.createObjectURL(new Blob([script], { type: "application/yaml" }));
  }

  let shown = { node: null, trail: [] };

  // The Mermaid picture of the menu (ivr graph), drawn in the page by the vendored mermaid.js.
  function drawDiagram() {
    const box = $("diagram");
    const src = $("mermaid-src");
    if (!box || !src || !window.mermaid) return;
    const failed = () => {
      box.textContent = "The picture of the menu could not be drawn; the list below shows it.";
    };
    try {
      window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
      window.mermaid
        .render("menu-diagram", src.textContent)
        .then(({ svg }) => {
          box.innerHTML = svg;
          highlight(shown.node, shown.trail);
        })
        .catch(failed);
    } catch (err) {
      failed();
    }
  }

  function graphId(node) {
    return "n_" + node.replace(/[^A-Za-z0-9_]/g, "_");
  }

  function highlight(node, trail) {
    shown = { node, trail };
    const drawn = node ? graphId(node) : null;
    const visited = trail.map(graphId);
    document.querySelectorAll("#diagram g.node").forEach((g) => {
      const m = /flowchart-(.+)-\d+$/.exec(g.id); // "menu-diagram-flowchart-n_main-4"
      const id = m ? m[1] : null;
      g.classList.toggle("current", id !== null && id === drawn);
      g.classList.toggle("visited", id !== null && id !== drawn && visited.includes(id));
    });
    document.querySelectorAll("li.node").forEach((el) => {
      const id = el.dataset.node;
      el.classList.toggle("current", id === node);
      el.classList.toggle("visited", trail.includes(id) && id !== node);
      if (id === node) el.setAttribute("aria-current", "location");
      else el.removeAttribute("aria-current");
    });
    $("where").textContent = node ? `The caller is at ${node}.` : "Not in a call.";
    const current = node && $(`node-${node}`);
    if (current) current.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  // -- sound -------------------------------------------------------------------------------

  const playlist = [];
  let playing = false;
  let generation = 0; // bumped by silenceAll, so late callbacks of cut items are ignored

  function muted() {
    return $("mute").checked;
  }

  function speak(text, lang) {
    if (muted() || !("speechSynthesis" in window)) return;
    playlist.push({ text, lang });
    next();
  }

  function play(url) {
    if (muted()) return;
    playlist.push({ url });
    next();
  }

  function pickVoice(lang) {
    const voices = window.speechSynthesis.getVoices();
    const want = lang.toLowerCase();
    const norm = (v) => v.lang.toLowerCase().replace("_", "-");
    return (
      voices.find((v) => norm(v) === want) ||
      voices.find((v) => norm(v).split("-")[0] === want.split("-")[0]) ||
      null
    );
  }

  function next() {
    if (playing || !playlist.length) return;
    const item = playlist.shift();
    playing = true;
    let done = false;
    const started = generation;
    const finish = () => {
      if (done || started !== generation) return; // cut short by silenceAll meanwhile
      done = true;
      playing = false;
      next();
    };
    if (item.url) {
      const player = $("player");
      player.src = item.url;
      player.onended = finish;
      player.onerror = finish;
      player.play().catch(finish);
      return;
    }
    const utterance = new SpeechSynthesisUtterance(item.text);
    utterance.lang = item.lang;
    const voice = pickVoice(item.lang);
    if (voice) utterance.voice = voice;
    utterance.onend = finish;
    utterance.onerror = finish;
    // Some browsers never fire onend without a voice installed: do not stall the queue.
    setTimeout(finish, 1500 + item.text.split(/\s+/).length * 600);
    window.speechSynthesis.speak(utterance);
  }

  function silenceAll() {
    generation += 1;
    playlist.length = 0;
    playing = false;
    if ("speechSynthesis" in window) window.speechSynthesis.cancel();
    const player = $("player");
    player.pause();
    player.removeAttribute("src");
  }

  // -- the caller's actions ----------------------------------------------------------------

  function listening(kind) {
    return call && waiting && waiting.for === "gather" && waiting.input.includes(kind);
  }

  function pressKey(key) {
    const button = document.querySelector(`.key[data-key="${CSS.escape(key)}"]`);
    if (button) {
      button.classList.add("pressed");
      setTimeout(() => button.classList.remove("pressed"), 150);
    }
    if (!call) {
      setStatus("Press Call first.");
      return;
    }
    if (!listening("dtmf")) {
      setStatus("The call is not listening for keys right now.");
      return;
    }
    buffer += key;
    const n = waiting.num_digits;
    const finishKey = waiting.finish_on_key;
    if ((n && buffer.length >= n) || (finishKey && key === finishKey)) {
      const keys = buffer;
      buffer = "";
      send("press", { keys }); // barges in on the prompt, as on a real call
    }
    render();
  }

  async function startCall() {
    if (call || inFlight) return;
    silenceAll();
    $("transcript").replaceChildren();
    $("outcome").textContent = "";
    offerScript(null);
    setStatus("Calling…");
    inFlight = true;
    try {
      apply(await post("call", {}));
    } catch (error) {
      setStatus(`Could not place the call: ${error.message}`);
    } finally {
      inFlight = false;
      render();
      if (call) $("hangup").focus();
    }
  }

  async function hangUp() {
    if (!call) return;
    silenceAll();
    const id = call;
    inFlight = false;
    try {
      apply(await post("hangup", { call: id }));
    } catch (error) {
      ended(null);
    }
    render();
    $("call").focus();
  }

  // -- controls ----------------------------------------------------------------------------

  let shownPanel = null;

  function render() {
    const had = document.activeElement;
    const inCall = Boolean(call);
    $("call").disabled = inCall;
    $("hangup").disabled = !inCall;
    document.querySelectorAll(".key").forEach((b) => (b.disabled = !inCall));
    $("silence").disabled = !(inCall && waiting && waiting.for === "gather");
    $("speech").disabled = !listening("speech");
    $("say").disabled = !listening("speech");
    $("keys-buffer").textContent = buffer ? `Keys so far: ${buffer}` : "";

    const inQueue = inCall && waiting && waiting.for === "queue";
    $("queue-panel").hidden = !inQueue;
    if (inQueue) {
      $("queue-info").textContent =
        `Queue ${waiting.queue}: position ${waiting.position}, ` +
        `waiting ${waiting.queue_time}s (hold cycle ${waiting.cycle}).`;
      document.querySelector('[data-queue="queue-full"]').disabled = !waiting.can_be_full;
    }
    const dialling = inCall && waiting && waiting.for === "dial";
    $("dial-panel").hidden = !dialling;
    if (dialling) {
      $("dial-info").textContent = waiting.targets.map((t) => `${t.kind} ${t.value}`).join(", ");
    }
    // On hold or ringing: the choices take the focus. And never leave keyboard focus on a
    // control that just went away.
    const panel = inQueue ? $("queue-panel") : dialling ? $("dial-panel") : null;
    if (panel && panel !== shownPanel) {
      panel.querySelector("button:not([disabled])").focus();
    } else if (had && had !== document.body && (had.disabled || had.closest("[hidden]"))) {
      (inCall ? $("hangup") : $("call")).focus();
    }
    shownPanel = panel;
  }

  $("call").addEventListener("click", startCall);
  $("hangup").addEventListener("click", hangUp);
  document.querySelectorAll(".key").forEach((b) =>
    b.addEventListener("click", () => pressKey(b.dataset.key)),
  );
  $("silence").addEventListener("click", () => {
    if (!call || !waiting || waiting.for !== "gather") return;
    // Twilio sends the keys pressed so far when the caller stops; nothing at all is silence.
    const keys = buffer;
    buffer = "";
    send(keys ? "press" : "silence", keys ? { keys } : {});
  });
  $("speech-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const words = $("speech").value.trim();
    if (!words || !listening("speech")) return;
    $("speech").value = "";
    silenceAll();
    send("say", { words }).then(() => {
      if (listening("speech")) $("speech").focus();
    });
  });
  document.querySelectorAll("[data-queue]").forEach((b) =>
    b.addEventListener("click", () => send("queue", { choice: b.dataset.queue })),
  );
  document.querySelectorAll("[data-dial]").forEach((b) =>
    b.addEventListener("click", () => send("dial", { status: b.dataset.dial })),
  );
  $("mute").checked = localStorage.getItem("ivr-phone-mute") === "1";
  $("mute").addEventListener("change", () => {
    localStorage.setItem("ivr-phone-mute", muted() ? "1" : "0");
    if (muted()) silenceAll();
  });
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select")) return;
    if (KEYS.includes(event.key) && event.key.length === 1) {
      event.preventDefault();
      pressKey(event.key);
    }
  });
  window.addEventListener("pagehide", () => {
    if (!call) return;
    fetch(api + "hangup", {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ call }),
    });
  });
  if ("speechSynthesis" in window) window.speechSynthesis.getVoices(); // load the voice list
  render();
  drawDiagram();
})();
