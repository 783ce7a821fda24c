// Inline SVG icons (stroke paths on a 24-unit grid), built with createElementNS: no markup parsing.

const SVG = "http://www.w3.org/2000/svg";

const PATHS = {
  plus: ["M12 5v14", "M5 12h14"],
  menu: ["M4 6h16", "M4 12h16", "M4 18h16"],
  send: ["M12 19V5", "M5 12l7-7 7 7"],
  stop: ["M7 7h10v10H7z"],
  pencil: ["M12 20h9", "M16.5 3.5a2.12 2.12 0 0 1 3 3L7 19l-4 1 1-4Z"],
  trash: ["M3 6h18", "M8 6V4h8v2", "M19 6l-1 14H6L5 6", "M10 11v6", "M14 11v6"],
  x: ["M18 6 6 18", "M6 6l12 12"],
  check: ["M20 6 9 17l-5-5"],
  copy: ["M9 9h11v11H9z", "M5 15H4V4h11v1"],
  sun: ["M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8z", "M12 2v2", "M12 20v2", "M2 12h2", "M20 12h2",
    "m4.9 4.9 1.4 1.4", "m17.7 17.7 1.4 1.4", "m4.9 19.1 1.4-1.4", "m17.7 6.3 1.4-1.4"],
  moon: ["M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z"],
  monitor: ["M3 4h18v12H3z", "M8 20h8", "M12 16v4"],
  bell: ["M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9", "M10.3 21a1.94 1.94 0 0 0 3.4 0"],
  "bell-off": ["M8.7 3A6 6 0 0 1 18 8a21 21 0 0 0 .6 5", "M17 17H3s3-2 3-9a4.7 4.7 0 0 1 .3-2",
    "M10.3 21a1.94 1.94 0 0 0 3.4 0", "m2 2 20 20"],
  wrench: ["M14.7 6.3a1 1 0 0 0 0 1.4l1.6 1.6a1 1 0 0 0 1.4 0l3.8-3.8a6 6 0 0 1-7.9 7.9l-6.9 6.9a2.1 2.1 0 0 1-3-3l6.9-6.9a6 6 0 0 1 7.9-7.9z"],
  terminal: ["m4 17 6-6-6-6", "M12 19h8"],
  chevron: ["m9 18 6-6-6-6"],
  panel: ["M3 3h18v18H3z", "M15 3v18"],
  clock: ["M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z", "M12 6v6l4 2"],
  todo: ["m3 6 2 2 3-3", "m3 14 2 2 3-3", "M11 7h10", "M11 15h10"],
  alert: ["M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z", "M12 9v4", "M12 17h.01"],
  refresh: ["M21 12a9 9 0 1 1-3-6.7L21 8", "M21 3v5h-5"],
  "arrow-down": ["M12 5v14", "m19 12-7 7-7-7"],
  help: ["M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z", "M9.1 9a3 3 0 0 1 5.8 1c0 2-3 3-3 3", "M12 17h.01"],
  handoff: ["M5 12h14", "m12 5 7 7-7 7"],
  fold: ["m7 20 5-5 5 5", "m7 4 5 5 5-5"],
  download: ["M12 3v12", "m7 10 5 5 5-5", "M5 21h14"],
  upload: ["M12 15V3", "m7 8 5-5 5 5", "M5 21h14"],
  chart: ["M3 3v18h18", "M8 17v-4", "M13 17V8", "M18 17v-7"],
  paperclip: ["m21.4 11-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l7.9-7.9"],
};

/** An <svg> icon; decorative (aria-hidden) because every button carries its own label. */
export function icon(name, { size = 18, className = "icon" } = {}) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("fill", name === "stop" ? "currentColor" : "none");
  svg.setAttribute("stroke", "currentColor");
  svg.setAttribute("stroke-width", "2");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", className);
  for (const d of PATHS[name] || PATHS.help) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/** Replace <span data-icon="name"> placeholders in the static page with real icons. */
export function hydrateIcons(root = document) {
  for (const slot of root.querySelectorAll("[data-icon]")) {
    slot.replaceChildren(icon(slot.dataset.icon));
    slot.classList.add("icon-slot");
  }
}

/** Swap the icon inside a placeholder or button. */
export function setIcon(slot, name) {
  const target = slot.matches("[data-icon]") ? slot : slot.querySelector("[data-icon]");
  if (!target) return;
  target.dataset.icon = name;
  target.replaceChildren(icon(name));
}
