// Live site status and progress on the sites pages, from the tenant's /ws/events/ stream (events.js).
(function () {
  const labels = {requested: "Requested", provisioning: "Provisioning", ready: "Ready", updating: "Updating",
    suspended: "Suspended", failed: "Failed", deleting: "Deleting", deleted: "Deleted"};
  document.addEventListener("aipress:event", (e) => {
    const {event, payload} = e.detail;
    if (!event.startsWith("site.") || !payload.site) return;
    document.querySelectorAll(`[data-site="${CSS.escape(payload.site)}"] .status`).forEach((cell) => {
      if (payload.status) cell.textContent = labels[payload.status] || payload.status;
    });
    const operation = document.getElementById("operation");
    const onThisPage = document.getElementById("site")?.dataset.site === payload.site;
    if (event === "site.operation" && operation && onThisPage) {
      const done = ["succeeded", "failed", "cancelled"].includes(payload.state);
      operation.textContent = done ? `${payload.kind}: ${payload.state}` + (payload.error ? ` (${payload.error})` : "")
        : `${payload.kind}: ${payload.state}` + (payload.step ? `, step ${payload.step_index + 1} of ${payload.steps_total} (${payload.step})` : "");
    }
    const timeline = document.getElementById("timeline");
    const page = document.getElementById("site");
    if (event === "site.progress" && timeline && page && page.dataset.site === payload.site) {
      const item = document.createElement("li");
      item.textContent = `${new Date().toTimeString().slice(0, 8)} ${payload.step}: ${payload.outcome}` +
        (payload.detail ? ` — ${payload.detail}` : "");
      timeline.prepend(item);
    }
  });
})();
