// syncguard-fleet status page: keeps the server-rendered page live.
//
// The server renders every page complete (it works with this script off). This
// script opens the event stream, patches rows, tiles and the verdict in place,
// shows a banner when the stream is lost, reconnects with backoff and resyncs
// from /api/v1/status. It writes text only through textContent and attributes:
// nothing a node sends can become markup or code. Text that needs a rule to be
// formatted (role, latency, the group problem, an ack's who/when/why) comes
// formatted from the server. It also drives the ack buttons and their form.
(function () {
  "use strict";

  var body = document.body;
  var statuses = {};
  try {
    statuses = JSON.parse(body.getAttribute("data-statuses") || "{}");
  } catch (e) {
    statuses = {};
  }
  var lastId = body.getAttribute("data-event-id") || "";
  var banner = document.getElementById("stream-lost");
  var liveState = document.getElementById("live-state");
  var verdict = document.getElementById("verdict");
  // off: no token configured (no buttons); signed-out: this page was loaded
  // without the token; on: with it (its cookie goes with our requests).
  var acksMode = body.getAttribute("data-acks") || "off";
  var table = document.getElementById("node-table");
  var tbody = table ? table.querySelector("tbody") : null;

  // Time without any frame (events, or the server's ping every second) before
  // the stream counts as lost; checked every 500 ms, so the banner is up
  // within 5 s of the last frame however the stream died.
  var SILENCE_MS = 3500;
  var CHECK_MS = 500;
  var BACKOFF_MIN_MS = 1000;
  var BACKOFF_MAX_MS = 30000;

  function statusWord(status) {
    var s = statuses[status];
    return (s ? s.symbol + " " : "") + status;
  }

  // Elements by node name: the table's rows and the node page's detail table.
  var nodes = new Map();
  document.querySelectorAll("[data-node]").forEach(function (el) {
    nodes.set(el.getAttribute("data-node"), el);
  });

  function setText(parent, selector, text) {
    var el = parent.querySelector(selector);
    if (el && el.textContent !== text) {
      el.textContent = text;
    }
  }

  function setAttr(el, name, value) {
    if (value === null || value === undefined) {
      if (el.hasAttribute(name)) el.removeAttribute(name);
    } else if (el.getAttribute(name) !== value) {
      el.setAttribute(name, value);
    }
  }

  // ---- maintenance and acks: what the server worded (view::Quiet), placed
  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }
  function quietNote(el, q) {
    if (!q.mark) return;
    var mark = document.createElement("span");
    mark.className = "quiet-mark";
    mark.textContent = q.mark;
    var text = document.createElement("span");
    text.className = "quiet-text";
    text.textContent = q.text;
    el.appendChild(mark);
    el.appendChild(document.createTextNode(" "));
    el.appendChild(text);
  }
  function quietButton(el, cls, attr, target, label, title) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.setAttribute(attr, target);
    b.title = title;
    b.textContent = label;
    el.appendChild(b);
  }
  function quietButtons(el, q) {
    if (acksMode === "off") return;
    if (q.ack) {
      quietButton(el, "ack", "data-ack", q.ack, "Acknowledge",
        "Acknowledge " + q.ack + ": say you know, and the alarm stops for it");
    }
    if (q.acked) {
      quietButton(el, "unack", "data-unack", q.acked, "Unack", "Remove the ack of " + q.acked);
    }
  }
  // What each element last showed, so an unchanged one keeps its buttons.
  var shownQuiet = new WeakMap();
  function quietChanged(el, q) {
    var key = JSON.stringify(q);
    if (shownQuiet.get(el) === key) return false;
    shownQuiet.set(el, key);
    return true;
  }
  // A node's row or detail table.
  function patchQuiet(el, q) {
    if (!q) return;
    setAttr(el, "data-maintenance", q.maintenance);
    setAttr(el, "data-acked", q.acked);
    var cell = el.querySelector(".ack");
    if (!cell || !quietChanged(cell, q)) return;
    clear(cell);
    quietNote(cell, q);
    if (acksMode !== "off" && (q.ack || q.acked)) cell.appendChild(document.createTextNode(" "));
    quietButtons(cell, q);
  }
  // A group's tile: the note inside it, the buttons below it (fleet page).
  function patchTileQuiet(el, q) {
    if (!q) return;
    setAttr(el, "data-maintenance", q.maintenance);
    setAttr(el, "data-acked", q.acked);
    var note = el.querySelector(".tile-quiet");
    if (!note || !quietChanged(note, q)) return;
    clear(note);
    quietNote(note, q);
    var cell = el.parentNode;
    var actions = cell && cell.classList.contains("tile-cell") ? cell.querySelector(".tile-actions") : null;
    if (actions) {
      clear(actions);
      quietButtons(actions, q);
    }
  }

  // ---- ages: "45s", "4m 12s", "3h 05m", "12d 03h" (as the server renders them)
  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }
  function shortDuration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + pad(s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + pad(Math.floor((s % 3600) / 60)) + "m";
    return Math.floor(s / 86400) + "d " + pad(Math.floor((s % 86400) / 3600)) + "h";
  }
  function tickAges() {
    var now = Date.now();
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(t)) {
        var text = shortDuration(now - t);
        if (el.textContent !== text) el.textContent = text;
      }
    });
  }

  // ---- rows
  function cell(tr, cls) {
    var td = document.createElement("td");
    td.className = cls;
    tr.appendChild(td);
    return td;
  }
  var onlyGroup = table ? table.getAttribute("data-only-group") : null;

  function newRow(name, group) {
    if (!tbody) return null;
    // A page narrowed to one group lists only that group's nodes.
    if (onlyGroup !== null && onlyGroup !== (group || "")) return null;
    var tr = document.createElement("tr");
    tr.setAttribute("data-node", name);
    tr.setAttribute("data-group", group || "");
    var a = document.createElement("a");
    a.href = "/node/" + encodeURIComponent(name);
    a.textContent = name;
    var nameCell = cell(tr, "name");
    nameCell.appendChild(a);
    var flap = document.createElement("span");
    flap.className = "flap";
    flap.hidden = true;
    nameCell.appendChild(flap);
    cell(tr, "group").textContent = group || "";
    cell(tr, "status");
    cell(tr, "role");
    cell(tr, "since");
    cell(tr, "latency");
    cell(tr, "error");
    cell(tr, "ack quiet");
    // New problems go to the top, where the worst are.
    tbody.insertBefore(tr, tbody.firstChild);
    nodes.set(name, tr);
    if (filter) matchFilter(tr, filter.value.trim().toLowerCase());
    return tr;
  }

  // A status change: from a transition event or the status document.
  function patchStatus(name, group, status, since, error) {
    var el = nodes.get(name);
    if (!el) {
      // Healthy nodes of a folded group are not listed; a new problem is.
      if (status === "synced" || status === "pending") return;
      el = newRow(name, group);
      if (!el) return;
    }
    el.setAttribute("data-status", status);
    setText(el, ".status", statusWord(status));
    if (since) {
      var s = el.querySelector(".since");
      if (s) s.setAttribute("data-since", since);
    }
    if (error !== undefined) setText(el, ".error", error || "");
  }

  // Cells formatted by the server (summary rows).
  function patchCells(c) {
    var el = nodes.get(c.node);
    if (!el) {
      if (c.status === "synced" || c.status === "pending") return;
      el = newRow(c.node, c.group);
      if (!el) return;
    }
    el.setAttribute("data-status", c.status);
    setText(el, ".status", c.status_word);
    setText(el, ".role", c.role);
    setText(el, ".latency", c.latency);
    var lat = el.querySelector(".latency");
    if (lat) lat.setAttribute("data-us", String(c.latency_us));
    setText(el, ".reply", c.reply);
    setText(el, ".error", c.error);
    var s = el.querySelector(".since");
    if (s) s.setAttribute("data-since", c.since);
    var f = el.querySelector(".flap");
    if (f) f.hidden = !c.flapping;
    patchQuiet(el, c.quiet);
  }

  // ---- tiles and verdict
  function patchTile(t) {
    var key = t.group === null ? "" : t.group;
    var el = null;
    document.querySelectorAll("[data-group].tile").forEach(function (x) {
      if (x.getAttribute("data-group") === key) el = x;
    });
    if (!el) return false;
    el.setAttribute("data-status", t.status);
    el.setAttribute("data-health", t.health);
    el.setAttribute("data-rank", String(t.rank));
    setText(el, ".tile-status", statusWord(t.status));
    setText(el, ".tile-count", t.in_lock + "/" + t.members + " in lock");
    setText(el, ".tile-problem", t.problem || "");
    setText(el, ".tile-down", t.down || "");
    patchTileQuiet(el, t.quiet);
    return true;
  }

  function patchVerdict(word, headline, unhealthy, alarming) {
    if (!verdict) return;
    verdict.setAttribute("data-verdict", word);
    verdict.setAttribute("data-unhealthy", String(unhealthy));
    if (typeof alarming === "number") {
      verdict.setAttribute("data-alarming", String(alarming));
      alarm.update(alarming);
    }
    if (headline) verdict.textContent = headline;
  }

  // The wall keeps its tiles worst first, in the server's order.
  function orderWall() {
    var wall = document.querySelector("#groups.wall");
    if (!wall) return;
    var tiles = Array.prototype.slice.call(wall.querySelectorAll(".tile"));
    tiles.sort(function (a, b) {
      return Number(a.getAttribute("data-rank")) - Number(b.getAttribute("data-rank"));
    });
    tiles.forEach(function (t, i) {
      if (wall.children[i] !== t) wall.appendChild(t);
    });
  }

  function onSummary(s) {
    var missing = false;
    s.tiles.forEach(function (t) {
      if (!patchTile(t)) missing = true;
    });
    orderWall();
    s.rows.forEach(patchCells);
    patchVerdict(s.verdict, s.headline, s.unhealthy, s.alarming);
    setText(document, "#counts", s.counts);
    // A group appeared (a reload of the monitor's config): the page's layout
    // changed, so take the server's.
    if (missing && body.getAttribute("data-page") !== "node") location.reload();
  }

  // The status document (a snapshot event, or the resync after a reconnect).
  function onStatusDocument(doc) {
    var seen = new Set();
    doc.nodes.forEach(function (n) {
      seen.add(n.name);
      patchStatus(n.name, n.group, n.status, n.since, n.error);
    });
    // Nodes that left the config.
    nodes.forEach(function (el, name) {
      if (!seen.has(name) && el.tagName === "TR") {
        el.remove();
        nodes.delete(name);
      }
    });
    if (verdict) {
      verdict.setAttribute("data-verdict", doc.verdict);
      var unhealthy = doc.summary.unhealthy - (doc.summary.by_status.pending || 0);
      verdict.setAttribute("data-unhealthy", String(unhealthy));
      if (typeof doc.alarming === "number") {
        verdict.setAttribute("data-alarming", String(doc.alarming));
        alarm.update(doc.alarming);
      }
    }
  }

  // ---- the alarm: opt-in per browser (a click is needed before sound). It
  // sounds while something is "alarming": unhealthy, nobody acknowledged it, and
  // not in a maintenance window (the server counts, #verdict[data-alarming]).
  var alarm = (function () {
    var box = document.getElementById("alarm");
    var arm = document.getElementById("alarm-arm");
    var silence = document.getElementById("alarm-silence");
    var ctx = null;
    var timer = null;
    var state = "off"; // off | armed | sounding | silenced
    var alarming = verdict
      ? Number(verdict.getAttribute("data-alarming") || verdict.getAttribute("data-unhealthy") || "0")
      : 0;
    var silencedAt = 0;

    function setState(s) {
      state = s;
      if (box) box.setAttribute("data-alarm", s);
      if (arm) arm.textContent = s === "off" ? "Arm alarm" : "Disarm alarm";
      if (silence) silence.hidden = s !== "sounding";
    }
    function beep() {
      if (!ctx) return;
      var o = ctx.createOscillator();
      var g = ctx.createGain();
      o.type = "square";
      o.frequency.value = 880;
      g.gain.setValueAtTime(0.0001, ctx.currentTime);
      g.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.35);
      o.connect(g).connect(ctx.destination);
      o.start();
      o.stop(ctx.currentTime + 0.4);
    }
    function start() {
      if (timer) return;
      if (ctx && ctx.state === "suspended") ctx.resume();
      beep();
      timer = setInterval(beep, 1000);
      setState("sounding");
    }
    function stop(next) {
      if (timer) clearInterval(timer);
      timer = null;
      setState(next);
    }
    function update(n) {
      var before = alarming;
      alarming = n;
      if (state === "off") return;
      if (n === 0) {
        // Recovered, acknowledged or in maintenance: quiet, and armed for the
        // next problem nobody has acknowledged.
        stop("armed");
      } else if (state === "armed" || (state === "silenced" && n > silencedAt)) {
        // Silence holds until more is alarming than when it was pressed.
        start();
      }
      return before;
    }
    if (box && arm && silence) {
      box.hidden = false;
      if (localStorage.getItem("syncguard-alarm") === "armed") {
        // Armed in an earlier visit: the browser may hold the sound until the
        // first click on the page (below), but the state is right at once.
        var AC0 = window.AudioContext || window.webkitAudioContext;
        if (AC0) ctx = new AC0();
        setState("armed");
        update(alarming);
      }
      arm.addEventListener("click", function () {
        if (state === "off") {
          var AC = window.AudioContext || window.webkitAudioContext;
          if (AC && !ctx) ctx = new AC();
          localStorage.setItem("syncguard-alarm", "armed");
          setState("armed");
          update(alarming);
        } else {
          localStorage.removeItem("syncguard-alarm");
          stop("off");
        }
      });
      silence.addEventListener("click", function () {
        silencedAt = alarming;
        stop("silenced");
      });
      // A context made without a click starts suspended; any click resumes it.
      document.addEventListener("click", function () {
        if (ctx && ctx.state === "suspended") ctx.resume();
      });
    }
    return { update: update };
  })();

  // ---- the stream
  var source = null;
  var backoff = BACKOFF_MIN_MS;
  var lastFrame = Date.now();
  var lost = false;
  var retryTimer = null;

  function showLost(why) {
    if (!lost) {
      lost = true;
      if (banner) banner.hidden = false;
      body.setAttribute("data-stream", "lost");
    }
    if (liveState) liveState.textContent = "connection lost (" + why + "), retrying";
  }
  function showUp() {
    lost = false;
    if (banner) banner.hidden = true;
    body.setAttribute("data-stream", "up");
    if (liveState) liveState.textContent = "connected";
  }

  // "1764582000123-42" -> [run, seq]
  function parseId(id) {
    var m = /^(\d+)-(\d+)$/.exec(id || "");
    return m ? [Number(m[1]), Number(m[2])] : null;
  }

  function resync() {
    return fetch("/api/v1/status", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        var docId = parseId(r.headers.get("x-syncguard-event-id"));
        return r.json().then(function (doc) {
          // Older than the events already applied (the resumed stream was
          // faster): it would put rows back. The stream has it right.
          var have = parseId(lastId);
          if (docId && have && docId[0] === have[0] && docId[1] < have[1]) return;
          onStatusDocument(doc);
        });
      })
      .catch(function () {
        /* the stream's own events keep the page right */
      });
  }

  function frame(e) {
    lastFrame = Date.now();
    if (e && e.lastEventId) lastId = e.lastEventId;
    if (lost) {
      showUp();
      resync();
    } else if (body.getAttribute("data-stream") !== "up") {
      showUp();
    }
  }

  function connect() {
    retryTimer = null;
    var url = "/api/v1/events" + (lastId ? "?since=" + encodeURIComponent(lastId) : "");
    source = new EventSource(url);
    lastFrame = Date.now();
    source.addEventListener("open", function () {
      backoff = BACKOFF_MIN_MS;
    });
    source.addEventListener("ping", frame);
    source.addEventListener("transition", function (e) {
      frame(e);
      var t = JSON.parse(e.data);
      patchStatus(t.node, t.group, t.status, t.time, t.error);
    });
    source.addEventListener("summary", function (e) {
      frame(e);
      onSummary(JSON.parse(e.data));
    });
    source.addEventListener("snapshot", function (e) {
      frame(e);
      onStatusDocument(JSON.parse(e.data));
    });
    source.addEventListener("error", function () {
      reconnect("stream closed");
    });
  }

  // Our own backoff rather than EventSource's fixed retry: a dead monitor is
  // not hammered by every wall in the building.
  function reconnect(why) {
    if (source) {
      source.close();
      source = null;
    }
    showLost(why);
    if (retryTimer) return;
    retryTimer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  }

  var lastTick = 0;
  setInterval(function () {
    if (Date.now() - lastTick >= 1000) {
      lastTick = Date.now();
      tickAges();
    }
    if (source && Date.now() - lastFrame > SILENCE_MS) {
      reconnect("no data for " + Math.round((Date.now() - lastFrame) / 1000) + "s");
    }
  }, CHECK_MS);

  // ---- the table: filter and sort in place (the links do the same on the server)
  var filter = document.getElementById("filter");
  function matchFilter(tr, q) {
    tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
  }
  function applyFilter() {
    var q = filter.value.trim().toLowerCase();
    nodes.forEach(function (el) {
      if (el.tagName === "TR") matchFilter(el, q);
    });
    var url = new URL(location.href);
    if (q) url.searchParams.set("q", filter.value.trim());
    else url.searchParams.delete("q");
    history.replaceState(null, "", url.toString());
  }
  if (filter) {
    filter.addEventListener("input", applyFilter);
    var form = filter.form;
    if (form) {
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        applyFilter();
      });
    }
  }

  function sortKey(tr, key) {
    if (key === "status") {
      var s = statuses[tr.getAttribute("data-status")];
      return s ? s.severity : 99;
    }
    if (key === "since") {
      var el = tr.querySelector(".since");
      return el ? -Date.parse(el.getAttribute("data-since")) : 0;
    }
    if (key === "latency") {
      // Slowest first, as the server sorts; no latency last.
      var l = tr.querySelector(".latency");
      return l ? -Number(l.getAttribute("data-us") || "-1") : 1;
    }
    var c = tr.querySelector("." + key);
    return c ? c.textContent.toLowerCase() : "";
  }
  if (table) {
    table.querySelectorAll("th[data-sort]").forEach(function (th) {
      th.addEventListener("click", function (e) {
        var key = th.getAttribute("data-sort");
        if (e.target.tagName === "A") e.preventDefault();
        var rows = Array.prototype.slice.call(tbody.rows);
        rows.sort(function (a, b) {
          var x = sortKey(a, key);
          var y = sortKey(b, key);
          if (x < y) return -1;
          if (x > y) return 1;
          return a.getAttribute("data-node") < b.getAttribute("data-node") ? -1 : 1;
        });
        rows.forEach(function (r) {
          tbody.appendChild(r);
        });
        table.querySelectorAll("th[data-sort]").forEach(function (h) {
          h.setAttribute("aria-sort", h === th ? "ascending" : "none");
        });
      });
    });
  }

  // ---- acks: the buttons, the form, the answer
  (function () {
    if (acksMode === "off") return;
    var dialog = document.getElementById("ack-dialog");
    var form = document.getElementById("ack-form");
    var result = document.getElementById("ack-result");
    var signIn = document.getElementById("ack-signin");
    var problem = document.getElementById("ack-error");
    var reason = document.getElementById("ack-reason");
    var lasts = document.getElementById("ack-for");
    var user = document.getElementById("ack-user");
    var submit = document.getElementById("ack-submit");
    var cancel = document.getElementById("ack-cancel");
    if (!dialog || !form || !result) return;
    var USER_KEY = "syncguard-user";
    var resultTimer = null;

    // The answer, for 20 s (an error until the next answer).
    function say(text, ok) {
      result.textContent = text;
      result.setAttribute("data-result", ok ? "ok" : "error");
      result.hidden = false;
      if (resultTimer) clearTimeout(resultTimer);
      resultTimer = ok ? setTimeout(function () { result.hidden = true; }, 20000) : null;
    }
    function signInText() {
      return signIn ? signIn.textContent : "Sign in with ?token= first.";
    }

    // A request with the page's cookie; the answer's JSON whatever the status.
    function send(method, url, payload) {
      var init = {
        method: method,
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Content-Type": "application/json" }
      };
      if (payload) init.body = JSON.stringify(payload);
      return fetch(url, init)
        .then(function (r) {
          return r.json()
            .catch(function () { return {}; })
            .then(function (doc) { return { status: r.status, ok: r.ok, doc: doc }; });
        })
        .catch(function (e) {
          return { status: 0, ok: false, doc: { error: "the monitor did not answer (" + e + ")" } };
        });
    }
    function failed(r) {
      var text = (r.doc && r.doc.error) || "HTTP " + r.status;
      // The token is missing or wrong: say how to sign in.
      if (r.status === 401) text += ". " + signInText();
      return text;
    }
    function nameOf(r) {
      return (r.doc && r.doc.text) || "";
    }

    function openForm(target) {
      form.setAttribute("data-target", target);
      setText(form, "#ack-target", target);
      reason.value = "";
      if (problem) problem.hidden = true;
      if (user && !user.value) user.value = localStorage.getItem(USER_KEY) || "";
      submit.disabled = false;
      dialog.showModal();
      reason.focus();
    }

    function unack(target, button) {
      button.disabled = true;
      var who = localStorage.getItem(USER_KEY) || "";
      var url = "/api/v1/ack/" + encodeURIComponent(target);
      send("DELETE", url, who ? { user: who } : null).then(function (r) {
        button.disabled = false;
        say(r.ok ? nameOf(r) : failed(r), r.ok);
      });
    }

    document.addEventListener("click", function (e) {
      var b = e.target && e.target.closest ? e.target.closest("button[data-ack], button[data-unack]") : null;
      if (!b) return;
      e.preventDefault();
      if (acksMode !== "on") {
        say(signInText(), false);
        return;
      }
      if (b.hasAttribute("data-ack")) openForm(b.getAttribute("data-ack"));
      else unack(b.getAttribute("data-unack"), b);
    });

    if (cancel) {
      cancel.addEventListener("click", function () {
        dialog.close();
      });
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var who = user ? user.value.trim() : "";
      if (who) localStorage.setItem(USER_KEY, who);
      else localStorage.removeItem(USER_KEY);
      var payload = { target: form.getAttribute("data-target") || "", reason: reason.value };
      if (lasts && lasts.value.trim()) payload["for"] = lasts.value.trim();
      if (who) payload.user = who;
      submit.disabled = true;
      send("POST", "/api/v1/ack", payload).then(function (r) {
        submit.disabled = false;
        if (r.ok) {
          dialog.close();
          // The row and tiles follow from the event stream.
          say(nameOf(r), true);
        } else if (r.status === 400 && problem) {
          // Something to correct in the form: keep it open.
          problem.textContent = failed(r);
          problem.hidden = false;
        } else {
          dialog.close();
          say(failed(r), false);
        }
      });
    });
  })();

  body.setAttribute("data-stream", "connecting");
  connect();
})();
