// Live check of the organisation address while it is typed; the server checks again on submit.
(function () {
  const name = document.getElementById("id_name");
  const slug = document.getElementById("id_slug");
  const status = document.getElementById("slug-status");
  if (!name || !slug || !status) return;
  let edited = slug.value !== "";
  let timer = null;
  const suggest = (text) => text.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40);
  const check = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!slug.value) { status.textContent = ""; return; }
      const response = await fetch(`/onboarding/check-slug/?slug=${encodeURIComponent(slug.value)}`, { credentials: "same-origin" });
      const body = await response.json();
      status.textContent = body.message;
      status.className = "help " + (body.available ? "ok" : "error");
      slug.setAttribute("aria-invalid", body.available ? "false" : "true");
    }, 250);
  };
  name.addEventListener("input", () => { if (!edited) { slug.value = suggest(name.value); check(); } });
  slug.addEventListener("input", () => { edited = true; check(); });
  if (slug.value) check();
})();
