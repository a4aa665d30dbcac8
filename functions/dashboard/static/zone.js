// The browser's time zone, for pages of a user who saved none: kept in a cookie the server
// reads (static/ because the CSP forbids inline script). A page drawn before the server knew
// the zone is drawn again once, in the right one.
(function () {
  "use strict";
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    return;
  }
  if (!zone) return;
  var found = document.cookie.match(/(?:^|; )mb_tz=([^;]*)/);
  if (found && decodeURIComponent(found[1]) === zone) return;
  document.cookie =
    "mb_tz=" + encodeURIComponent(zone) + "; path=/dashboard; max-age=31536000; samesite=lax";
  var source = document.body && document.body.dataset.zoneSource;
  if (source === "default" && !sessionStorage.getItem("mb_tz_reloaded")) {
    sessionStorage.setItem("mb_tz_reloaded", "1"); // once: never a reload loop
    location.reload();
  }
})();
