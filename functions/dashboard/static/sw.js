// Mailbeacon's service worker (scope /dashboard/): shows Web Push alerts and opens the
// email's page when one is clicked. The payload, decrypted by the browser (RFC 8291), is
// {"title", "body", "url", "message_id", "kind"} (notifier/post.py push_payload); a due
// reminder adds "actions" (Snooze 1 day, Done) and their signed "action_urls", which a press
// POSTs to (notifier/reminder_notice.py; the server acts on POST only).
"use strict";

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("push", function (event) {
  var data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { title: "Mailbeacon", body: event.data ? event.data.text() : "" };
  }
  var tag = data.message_id ? "mailbeacon-" + data.message_id : "mailbeacon-" + (data.kind || "alert");
  var options = {
    body: data.body || "",
    tag: tag,
    data: {
      url: data.url || "/dashboard/messages",
      message_id: data.message_id,
      kind: data.kind,
      action_urls: data.action_urls || {},
    },
  };
  if (Array.isArray(data.actions)) {
    var most = self.Notification && self.Notification.maxActions ? self.Notification.maxActions : 2;
    options.actions = data.actions.slice(0, most);
  }
  event.waitUntil(self.registration.showNotification(data.title || "Mailbeacon", options));
});

function act(url) {
  var target = new URL(url, self.location.origin);
  if (target.origin !== self.location.origin) return Promise.resolve();
  return fetch(target.href, { method: "POST", credentials: "omit" });
}

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var urls = (event.notification.data && event.notification.data.action_urls) || {};
  if (event.action && urls[event.action]) {
    event.waitUntil(act(urls[event.action]));
    return;
  }
  var url = (event.notification.data && event.notification.data.url) || "/dashboard/messages";
  var target = new URL(url, self.location.origin);
  if (target.origin !== self.location.origin) target = new URL("/dashboard/messages", self.location.origin);
  event.waitUntil(self.clients.openWindow(target.href));
});
