// The witness's sign-off on the announcement page: POST the party, the re-entered password and the
// digest shown on the page; on success reload so the signature block shows the new signature.
"use strict";
(function () {
  var form = document.getElementById("sign-form");
  if (!form) { return; }
  var meta = document.querySelector('meta[name="csrf-token"]');
  var error = document.getElementById("sign-error");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    var lang = document.documentElement.lang === "en" ? "?lang=en" : "";
    fetch("/api/v1/campaigns/" + form.dataset.campaign + "/signoffs" + lang, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": meta ? meta.content : "" },
      body: JSON.stringify({
        party: document.getElementById("sign-party").value,
        password: document.getElementById("sign-password").value,
        digest: form.dataset.digest
      })
    }).then(function (response) {
      if (response.ok) { window.location.reload(); return null; }
      return response.json().then(function (body) {
        var detail = body && body.detail;
        error.textContent = typeof detail === "string" ? detail : JSON.stringify(detail);
        error.hidden = false;
      });
    }).catch(function (err) {
      error.textContent = String(err);
      error.hidden = false;
    });
  });
}());
