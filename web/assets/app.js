// docker-forge dashboard: what must update live. The server renders every
// word (data-* attributes carry the messages); this file fetches what the
// server renders, calls the JSON API with the session's CSRF token, and
// draws the charts.
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var lang = document.documentElement.lang || "en";
  // A page about another engine's project (?context=) asks the server
  // about that engine in every request it makes.
  var engine = document.body.dataset.context || "";
  function onEngine(url) {
    if (!engine || /[?&]context=/.test(url)) { return url; }
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + "context=" + encodeURIComponent(engine);
  }

  function fill(msg, args) {
    return String(msg || "").replace(/\{(\d+)\}/g, function (_, i) {
      return args[+i] === undefined ? "" : String(args[+i]);
    });
  }

  // ---- fragments that refresh themselves --------------------------------
  // An element with data-refresh is replaced by what that URL renders:
  // every 2 s while a deploy is queued or running, every 15 s otherwise.
  var refreshers = [];
  function refresher(el) {
    var timer = null;
    var r = {
      el: el,
      active: el.dataset.active === "1",
      now: function () {
        clearTimeout(timer);
        return fetch(onEngine(el.dataset.refresh), { credentials: "same-origin", headers: { Accept: "text/html" } })
          .then(function (resp) {
            if (resp.status === 401) { location.reload(); return; }
            if (!resp.ok) { return; }
            r.active = resp.headers.get("X-Forge-Active") === "1";
            return resp.text().then(function (html) { el.innerHTML = html; });
          })
          .catch(function () {})
          .then(function () { r.later(); });
      },
      later: function () {
        clearTimeout(timer);
        timer = setTimeout(r.now, r.active || pending > 0 ? 2000 : 15000);
      }
    };
    r.later();
    return r;
  }
  document.querySelectorAll("[data-refresh]").forEach(function (el) { refreshers.push(refresher(el)); });
  function refreshAll() { refreshers.forEach(function (r) { r.now(); }); }

  // ---- deploys and rollbacks started from the page ----------------------
  var pending = 0;
  var statusEl = document.getElementById("action-status");

  function say(msg) {
    if (!statusEl) { return; }
    statusEl.hidden = false;
    statusEl.textContent = msg;
  }

  function post(url, body) {
    return fetch(onEngine(url), {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        return { status: resp.status, data: data };
      });
    });
  }

  // run asks first not to wait; a busy project says so, then the request
  // queues behind what runs. History refreshes meanwhile.
  function run(url, body, working) {
    pending++;
    say(working);
    var tick = setInterval(refreshAll, 1500);
    var done = function (res) {
      clearInterval(tick);
      pending--;
      var d = res.data && res.data.deploy;
      if (res.status === 200 && d) {
        var label = statusEl.dataset["status" + d.status.charAt(0).toUpperCase() + d.status.slice(1)] || d.status;
        say(d.status === "succeeded" ? fill(statusEl.dataset.msgDone, [d.id, label])
          : fill(statusEl.dataset.msgFailed, [d.id, d.error || label]));
      } else {
        say(fill(statusEl.dataset.msgRefused, [(res.data && res.data.error) || res.status]));
      }
      refreshAll();
    };
    var noWait = Object.assign({}, body, { no_wait: true });
    return post(url, noWait).then(function (res) {
      if (res.status === 409 && res.data && res.data.busy) {
        say(statusEl.dataset.msgWaiting);
        return post(url, body);
      }
      return res;
    }).then(done, function () { done({ status: 0, data: {} }); });
  }

  var dialog = document.getElementById("rollback-dialog");
  var dialogBody = document.getElementById("rollback-body");
  var confirmBtn = document.getElementById("rollback-confirm");
  var rollbackTarget = null;

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-rollback], [data-deploy]");
    if (!btn || !statusEl) { return; }
    if (btn.dataset.deploy !== undefined) {
      run("/api/projects/" + encodeURIComponent(btn.dataset.deploy) + "/deploy", {}, statusEl.dataset.msgDeploying);
      return;
    }
    rollbackTarget = { project: btn.dataset.project, to: +btn.dataset.rollback };
    confirmBtn.disabled = true;
    dialog.showModal();
    fetch(onEngine("/projects/" + encodeURIComponent(rollbackTarget.project) + "/rollback/" + rollbackTarget.to), { credentials: "same-origin" })
      .then(function (resp) {
        return resp.text().then(function (html) {
          if (resp.ok) { dialogBody.innerHTML = html; confirmBtn.disabled = false; } else { dialogBody.textContent = html; }
        });
      });
  });

  // A deploy's configuration changes, fetched when first opened.
  document.addEventListener("toggle", function (ev) {
    var det = ev.target;
    if (!det.matches || !det.matches("details[data-diff]") || !det.open || det.dataset.loaded) { return; }
    det.dataset.loaded = "1";
    fetch(onEngine(det.dataset.diff), { credentials: "same-origin" }).then(function (resp) {
      return resp.text().then(function (html) {
        var body = det.querySelector(".diff-body");
        if (resp.ok) { body.innerHTML = html; } else { body.textContent = html; }
      });
    });
  }, true);

  if (confirmBtn) {
    confirmBtn.addEventListener("click", function () {
      if (!rollbackTarget) { return; }
      dialog.close();
      run("/api/projects/" + encodeURIComponent(rollbackTarget.project) + "/rollback", { to: rollbackTarget.to }, statusEl.dataset.msgRolling);
      rollbackTarget = null;
    });
  }

  // ---- resource charts ---------------------------------------------------
  var MiB = 1024 * 1024;
  var colors = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4", "#6e7781"];

  function charts(box) {
    if (typeof uPlot === "undefined") { return; }
    var num = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
    var long = ["7d", "30d"].indexOf(box.dataset.window) >= 0;
    var timeFmt = new Intl.DateTimeFormat(lang, long ? { day: "numeric", month: "short" } : { hour: "2-digit", minute: "2-digit" });
    var fullFmt = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    // The time axis spans the whole window, however few the samples.
    var span = { "15m": 900, "1h": 3600, "2h": 7200, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000 }[box.dataset.window] || 7200;
    var plots = {};
    var shown = { "": true };
    box.closest("section").querySelectorAll("input[data-series]").forEach(function (cb) {
      shown[cb.dataset.series] = cb.checked;
      cb.addEventListener("change", function () {
        shown[cb.dataset.series] = cb.checked;
        Object.keys(plots).forEach(function (m) {
          var p = plots[m];
          p.series.forEach(function (s, i) {
            if (i > 0 && s.key !== undefined && shown[s.key] !== undefined) { p.setSeries(i, { show: shown[s.key] }); }
          });
        });
      });
    });

    // aligned turns series of points into uPlot's columns: one time axis,
    // a value (or null, a gap) per series at each time.
    function aligned(list, pick) {
      var times = {};
      list.forEach(function (s) { (s.points || []).forEach(function (p) { times[Date.parse(p.time) / 1000] = true; }); });
      var xs = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
      var index = {};
      xs.forEach(function (t, i) { index[t] = i; });
      var cols = [xs];
      list.forEach(function (s) {
        var col = new Array(xs.length).fill(null);
        var prev = null;
        (s.points || []).forEach(function (p) {
          var v = pick(p, prev);
          col[index[Date.parse(p.time) / 1000]] = v;
          prev = p;
        });
        cols.push(col);
      });
      return cols;
    }
    // rate is a counter's change per second since the point before; a
    // counter that went back (a restart) is a gap.
    function rate(field) {
      return function (p, prev) {
        if (!prev) { return null; }
        var dt = (Date.parse(p.time) - Date.parse(prev.time)) / 1000;
        var dv = p[field] - prev[field];
        return dt > 0 && dv >= 0 ? dv / dt : null;
      };
    }
    function sum(list) {
      // One series: every project's total added up at each time.
      var byTime = {};
      list.forEach(function (s) {
        (s.points || []).forEach(function (p) {
          var q = byTime[p.time] || (byTime[p.time] = { time: p.time, cpu_percent: 0, memory: 0, net_rx: 0, net_tx: 0, block_read: 0, block_write: 0 });
          ["cpu_percent", "memory", "net_rx", "net_tx", "block_read", "block_write"].forEach(function (f) { q[f] += p[f] || 0; });
        });
      });
      var points = Object.keys(byTime).sort().map(function (k) { return byTime[k]; });
      return [{ project: "", points: points }];
    }

    function draw(list) {
      if (box.dataset.sum === "1") { list = sum(list); }
      var total = list.filter(function (s) { return !s.service; });
      var services = list.filter(function (s) { return s.service; });
      var any = list.some(function (s) { return (s.points || []).length > 0; });
      var metrics = {
        cpu: { series: total.concat(services), pick: function (p) { return p.cpu_percent; }, unit: box.dataset.unitCpu },
        memory: { series: total.concat(services), pick: function (p) { return p.memory / MiB; }, unit: box.dataset.unitMib },
        net: { series: [total[0], total[0]], picks: [rate("net_rx"), rate("net_tx")], labels: [box.dataset.labelRx, box.dataset.labelTx], unit: box.dataset.unitRate },
        block: { series: [total[0], total[0]], picks: [rate("block_read"), rate("block_write")], labels: [box.dataset.labelRead, box.dataset.labelWrite], unit: box.dataset.unitRate }
      };
      box.querySelectorAll(".chart").forEach(function (el) {
        var m = metrics[el.dataset.metric];
        if (!any || !m.series[0]) {
          if (plots[el.dataset.metric]) { plots[el.dataset.metric].destroy(); delete plots[el.dataset.metric]; }
          el.innerHTML = "";
          var p = document.createElement("p");
          p.className = "empty";
          p.textContent = box.dataset.empty;
          el.appendChild(p);
          return;
        }
        var data;
        var series = [{ label: box.dataset.labelTime, value: function (u, v) { return v == null ? "—" : fullFmt.format(new Date(v * 1000)); } }];
        if (m.picks) {
          data = [aligned([m.series[0]], m.picks[0])[0]];
          m.picks.forEach(function (pick, i) {
            data.push(aligned([m.series[0]], pick)[1]);
            series.push({ label: m.labels[i], stroke: colors[i], width: 1.5, value: function (u, v) { return v == null ? "—" : num.format(v); } });
          });
        } else {
          data = aligned(m.series, m.pick);
          m.series.forEach(function (s, i) {
            var key = s.service || "";
            series.push({
              key: key, label: key || box.dataset.labelTotal, stroke: colors[i % colors.length], width: key ? 1 : 2,
              show: shown[key] !== false && (key === "" || shown[key] === true),
              value: function (u, v) { return v == null ? "—" : num.format(v); }
            });
          });
        }
        var opts = {
          width: Math.max(el.clientWidth, 300), height: 200, series: series,
          scales: {
            x: { time: true, range: function () { var now = Date.now() / 1000; return [now - span, now]; } },
            // A flat series (an idle service: 0 % all along) gets an axis
            // from 0 with readable steps, not one squeezed around its value
            // whose every tick reads "0"; no data at all gets 0 to 1.
            y: { range: function (u, min, max) {
              if (min == null || max == null) { return [0, 1]; }
              if (max - min < 1e-9) { return [0, Math.max(1, max * 2)]; }
              return uPlot.rangeNum(min, max, 0.1, true);
            } }
          },
          axes: [
            { values: function (u, splits) { return splits.map(function (t) { return timeFmt.format(new Date(t * 1000)); }); } },
            { label: m.unit, size: 60, values: function (u, splits) {
              // As many decimals as the step between ticks needs: 0.25, not
              // a second "0.3"; 1.95, not a second "2".
              var step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 1;
              var digits = 0;
              while (digits < 3 && step > 0 && Math.abs(step * Math.pow(10, digits) - Math.round(step * Math.pow(10, digits))) > 1e-6) { digits++; }
              var f = new Intl.NumberFormat(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits });
              return splits.map(function (v) { return f.format(v); });
            } }
          ],
          legend: { show: true }
        };
        // How many points the first series drew: what a test (or a curious
        // person in the inspector) can read.
        el.dataset.points = String(data[1].filter(function (v) { return v != null; }).length);
        var old = plots[el.dataset.metric];
        if (old && old.series.length === series.length) {
          old.setData(data);
          return;
        }
        if (old) { old.destroy(); }
        el.innerHTML = "";
        plots[el.dataset.metric] = new uPlot(opts, data, el);
      });
    }

    function load() {
      var url = box.dataset.src + "?window=" + encodeURIComponent(box.dataset.window);
      fetch(onEngine(url), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (resp) {
          if (resp.status === 401) { location.reload(); return null; }
          return resp.ok ? resp.json() : Promise.reject(resp.status);
        })
        .then(function (list) { if (list) { draw(list); box.dataset.drawn = String(+(box.dataset.drawn || 0) + 1); } })
        .catch(function () {
          box.querySelectorAll(".chart").forEach(function (el) {
            if (!plots[el.dataset.metric]) { el.textContent = box.dataset.error; }
          });
        });
    }
    load();
    setInterval(load, 15000);
    window.addEventListener("resize", function () {
      box.querySelectorAll(".chart").forEach(function (el) {
        var p = plots[el.dataset.metric];
        if (p) { p.setSize({ width: Math.max(el.clientWidth, 300), height: 200 }); }
      });
    });
  }
  document.querySelectorAll(".charts").forEach(charts);

  // ---- logs: the last lines, then a live follow --------------------------
  var logEl = document.getElementById("log");
  if (logEl) {
    var followBox = document.getElementById("follow");
    var logStatus = document.getElementById("log-status");
    var controller = null;
    var maxChars = 1 << 20;
    var start = function () {
      if (controller) { controller.abort(); }
      controller = new AbortController();
      logEl.textContent = "";
      var follow = followBox.checked;
      logStatus.textContent = follow ? logStatus.dataset.msgFollowing : "";
      fetch(onEngine(logEl.dataset.src + (follow ? "&follow=1" : "")), { credentials: "same-origin", signal: controller.signal })
        .then(function (resp) {
          if (!resp.ok) { return Promise.reject(resp.status); }
          var reader = resp.body.getReader();
          var dec = new TextDecoder();
          var pump = function () {
            return reader.read().then(function (r) {
              if (r.done) {
                if (!logEl.textContent) { logStatus.textContent = logStatus.dataset.msgEmpty; }
                return;
              }
              var atEnd = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 4;
              logEl.textContent += dec.decode(r.value, { stream: true });
              if (logEl.textContent.length > maxChars) { logEl.textContent = logEl.textContent.slice(-maxChars / 2); }
              if (atEnd) { logEl.scrollTop = logEl.scrollHeight; }
              return pump();
            });
          };
          return pump();
        })
        .catch(function (err) {
          if (err && err.name === "AbortError") { logStatus.textContent = logStatus.dataset.msgStopped; return; }
          logStatus.textContent = logStatus.dataset.msgError;
        });
    };
    followBox.addEventListener("change", function () {
      if (followBox.checked) { start(); } else if (controller) { controller.abort(); }
    });
    start();
  }
})();
