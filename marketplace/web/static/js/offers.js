// The offer workspace's attachment form, enhanced: a file larger than the no-JavaScript form's limit (or any
// file, when the browser can hash it) goes straight to the object store by a presigned PUT bound to its size and
// SHA-256, with a progress bar; then the page route confirms it (the server checks the stored object).
// Without JavaScript the form posts the file as multipart, through the same offer service.
(function () {
  "use strict";
  // Back from "Afficher la liste des pièces" (below): the focus goes to the list of attachments, so that the next
  // Tab stops are the file field and the deposit button, not the top of the page all over again.
  var list = document.getElementById("pieces");
  if (list && window.location.hash === "#pieces") {
    list.setAttribute("tabindex", "-1");
    list.focus();
  }
  var form = document.getElementById("envoi-piece");
  if (!form || !window.crypto || !window.crypto.subtle || !window.XMLHttpRequest) { return; }
  var input = form.querySelector("input[type=file]");
  var box = document.getElementById("progression");
  var bar = document.getElementById("barre");
  var status = document.getElementById("etat-envoi");
  var token = form.querySelector("input[name=_csrf_token]").value;

  function say(text) { status.textContent = text; }
  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrftoken": token },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.ok) { return response.json(); }
      return response.text().then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var detail = doc.querySelector("main") ? doc.querySelector("main").textContent : "";
        throw new Error("Refusé (" + response.status + ") : " + detail.replace(/\s+/g, " ").trim());
      });
    });
  }
  function put(upload, file) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(upload.method, upload.url);
      Object.keys(upload.headers).forEach(function (name) {
        if (name.toLowerCase() !== "content-length" && name.toLowerCase() !== "host") {
          xhr.setRequestHeader(name, upload.headers[name]);
        }
      });
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          var percent = Math.floor(event.loaded * 100 / event.total);
          bar.value = percent;
          bar.textContent = percent + " %";
          say("Envoi : " + percent + " %");
        }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 300) { resolve(); } else {
          reject(new Error("Le stockage a refusé le fichier (" + xhr.status + ")."));
        }
      });
      xhr.addEventListener("error", function () { reject(new Error("Envoi interrompu.")); });
      xhr.send(file);
    });
  }

  form.addEventListener("submit", function (event) {
    var file = input.files && input.files[0];
    if (!file) { return; }
    event.preventDefault();
    box.hidden = false;
    bar.value = 0;
    say("Calcul de l'empreinte SHA-256…");
    file.arrayBuffer().then(function (bytes) {
      return window.crypto.subtle.digest("SHA-256", bytes);
    }).then(function (digest) {
      say("Préparation de l'envoi…");
      return post(form.dataset.presign, { filename: file.name, size: file.size, sha256: hex(digest) });
    }).then(function (upload) {
      return put(upload, file).then(function () {
        bar.value = 100;
        bar.textContent = "100 %";
        say("Vérification par le serveur…");
        return post(upload.completePath, { key: upload.headers["x-amz-server-side-encryption-customer-key"] });
      });
    }).then(function (receipt) {
      say("Envoi terminé : 100 %. « " + receipt.filename + " » reçue et scellée (" + receipt.size + " octets). ");
      var link = document.createElement("a");
      link.href = window.location.pathname + "#pieces";
      link.id = "voir-pieces";
      link.textContent = "Afficher la liste des pièces";
      // The page comes back at the list of attachments (see above).
      link.addEventListener("click", function (e) {
        e.preventDefault();
        window.location.hash = "pieces";
        window.location.reload();
      });
      status.appendChild(link);
    }).catch(function (error) {
      say(error.message);
    });
  });
})();
