// Mailbeacon's live dashboard: new events appear on open pages, and, once the user asks for
// it with the "Turn on desktop notifications" button (never on page load), as desktop
// notifications. Served from our origin: the CSP forbids inline script.
//
// Events arrive by Server-Sent Events from `mailbeacon serve` (/dashboard/live/stream) or by
// short polls (/dashboard/live/poll) where the server cannot stream (Cloud Functions) or
// refuses another stream. Either may repeat an event: they are deduplicated by id.
(function () {
  "use strict";
  var body = document.body;
  var mode = body.dataset.live;
  if (!mode) return;
  var cursor = body.dataset.cursor || "";
  var messageId = body.dataset.messageId || "";
  var csrf = (document.querySelector('meta[name="mailbeacon-csrf"]') || {}).content || "";
  var list = document.getElementById("live-events");
  var button = document.getElementById("notify-on");
  var statusLine = document.getElementById("notify-status");
  // The feed looks back a little before the page's cursor (mailbeacon/live.py), so it may
  // repeat events the server already rendered into the timeline: those count as seen.
  var seen = new Set(
    Array.prototype.map.call(document.querySelectorAll("#events tr[data-event-id]"), function (row) {
      return row.dataset.eventId;
    })
  );
  var registration = null;
  var pushing = false; // this browser has a push subscription: Web Push tells it, not the page

  function say(text) {
    statusLine.textContent = text;
  }

  // Times in the page's zone (the user's saved one, else the browser's), written as the
  // server writes them (mailbeacon.localtime.when): "Mar 2, 10:15".
  var clock = new Intl.DateTimeFormat("en-US", {
    timeZone: body.dataset.zone || undefined, month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });

  function when(iso) {
    return clock.format(new Date(iso));
  }

  function pageOf(item) {
    return "/dashboard/messages/" + encodeURIComponent(item.message_id);
  }

  function headline(item) {
    var who = (item.recipients || []).join(", ") || "someone";
    var subject = item.subject || "(no subject)";
    if (item.kind === "click") return who + " clicked a link in \u201c" + subject + "\u201d";
    return who + " opened \u201c" + subject + "\u201d";
  }

  function addToList(item) {
    var li = document.createElement("li");
    li.className = item.human ? "human" : "machine";
    li.dataset.eventId = item.id;
    var link = document.createElement("a");
    link.href = pageOf(item);
    link.textContent = headline(item);
    li.appendChild(link);
    var facts = " \u00b7 " + when(item.at) + " \u00b7 " + (item.verdict_word || item.verdict);
    if (item.client_word) facts += " \u00b7 " + item.client_word;
    li.appendChild(document.createTextNode(facts));
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 10) list.removeChild(list.lastChild);
  }

  function bump(id) {
    var cell = document.getElementById(id);
    if (cell) cell.textContent = String((parseInt(cell.textContent, 10) || 0) + 1);
  }

  function addToTimeline(item) {
    var tbody = document.querySelector("#events tbody");
    if (!tbody || item.message_id !== messageId) return;
    var empty = tbody.querySelector("td[colspan]");
    if (empty) tbody.removeChild(empty.parentNode);
    var row = document.createElement("tr");
    row.className = "live-new";
    var what = (item.kind_word || item.kind) + (item.url ? " " + item.url : "");
    var cells = [when(item.at), what, item.verdict_word || item.verdict, item.client_word || "",
      item.human ? "" : item.reasons_word || ""];
    cells.forEach(function (text, i) {
      var td = document.createElement("td");
      td.textContent = text;
      if (i === 2) td.className = item.human ? "v-human" : "v-machine";
      row.appendChild(td);
    });
    tbody.insertBefore(row, tbody.firstChild);
    if (!item.human) bump("machine-hits");
    else bump(item.kind === "click" ? "human-clicks" : "human-opens");
  }

  function notify(item) {
    if (!item.human || pushing || !("Notification" in window)) return;
    if (Notification.permission !== "granted") return;
    var url = pageOf(item);
    var options = {
      body: when(item.at) + (item.client_word ? " \u00b7 " + item.client_word : ""),
      tag: "mailbeacon-" + item.message_id, // the same tag as Web Push: one notification, not two
      data: { url: url, message_id: item.message_id, kind: item.kind },
    };
    if (registration) {
      registration.showNotification(headline(item), options); // sw.js opens the page on click
      return;
    }
    var shown = new Notification(headline(item), options);
    shown.onclick = function () {
      window.focus();
      window.location.href = url;
      shown.close();
    };
  }

  function show(item) {
    if (!item || !item.id || seen.has(item.id)) return;
    seen.add(item.id);
    addToList(item);
    addToTimeline(item);
    notify(item);
  }

  function poll() {
    fetch("/dashboard/live/poll?cursor=" + encodeURIComponent(cursor), {
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        if (response.status === 401) throw new Error("signed out");
        return response.json();
      })
      .then(function (answer) {
        (answer.events || []).forEach(show);
        cursor = answer.cursor || cursor;
        setTimeout(poll, (answer.poll_seconds || 5) * 1000);
      })
      .catch(function (error) {
        if (String(error.message) !== "signed out") setTimeout(poll, 15000);
      });
  }

  function streamOrPoll() {
    if (mode !== "stream" || !("EventSource" in window)) return poll();
    var source = new EventSource("/dashboard/live/stream?cursor=" + encodeURIComponent(cursor));
    source.addEventListener("hello", function (e) {
      cursor = e.lastEventId || cursor;
      body.dataset.liveConnected = "1";
    });
    source.addEventListener("mailbeacon", function (e) {
      cursor = e.lastEventId || cursor;
      show(JSON.parse(e.data));
    });
    source.onerror = function () {
      // The server ends each stream after a while and the browser reconnects by itself; a
      // refused stream (503: too many pages, or no streaming here) closes it: poll instead.
      if (source.readyState === EventSource.CLOSED) poll();
    };
  }

  function keyBytes(base64url) {
    var text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }

  function subscribePush() {
    if (!registration || !("PushManager" in window)) return Promise.resolve(false);
    return fetch("/dashboard/push/key", { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("Web Push is not configured on this server");
        return response.json();
      })
      .then(function (answer) {
        return registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(answer.vapid_public_key),
        });
      })
      .then(function (subscription) {
        return fetch("/dashboard/push/subscriptions", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify(subscription.toJSON()),
        });
      })
      .then(function (response) {
        if (!response.ok) throw new Error("the server refused the subscription");
        pushing = true;
        return true;
      });
  }

  function turnOn() {
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") {
        say("Notifications are blocked for this site in the browser's settings.");
        return;
      }
      button.hidden = true;
      say("Desktop notifications are on while a Mailbeacon page is open.");
      subscribePush()
        .then(function (ok) {
          if (ok) say("Desktop notifications are on, also when no Mailbeacon page is open.");
        })
        .catch(function (error) {
          say("Desktop notifications are on while a Mailbeacon page is open (" +
            error.message + ").");
        });
    });
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker
      .register("/dashboard/sw.js", { scope: "/dashboard/" })
      .then(function () {
        return navigator.serviceWorker.ready;
      })
      .then(function (ready) {
        registration = ready;
        return ready.pushManager ? ready.pushManager.getSubscription() : null;
      })
      .then(function (subscription) {
        pushing = !!subscription;
      })
      .catch(function () {
        registration = null; // the page's own notifications still work
      });
  }
  if ("Notification" in window && button) {
    if (Notification.permission === "granted") say("Desktop notifications are on.");
    else if (Notification.permission === "default") button.hidden = false;
    button.addEventListener("click", turnOn);
  }
  streamOrPoll();
})();
