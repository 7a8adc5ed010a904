// Horizontal bar charts as SVG, each bar with its number written beside it.
// Two bar charts do not warrant a charting library: this is the whole of it.
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 360;
const ROW = 26;
const LABEL = 130;
const VALUE = 44;

function node(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

// items: [{label, value}]; the SVG's accessible name reads every bar.
export function barChart(items, title) {
  if (items.length === 0) {
    const empty = document.createElement("p");
    empty.className = "hint";
    empty.textContent = "No registrations in this range.";
    return empty;
  }
  const largest = Math.max(...items.map((item) => item.value), 1);
  const span = WIDTH - LABEL - VALUE;
  const summary = items.map((item) => `${item.label}: ${item.value}`).join(", ");
  const svg = node("svg", {
    viewBox: `0 0 ${WIDTH} ${items.length * ROW}`,
    role: "img",
    "aria-label": `${title}. ${summary}`,
    class: "bars",
  });
  items.forEach((item, index) => {
    const y = index * ROW;
    const bar = node("g", { class: "bar", "data-label": item.label, "aria-hidden": "true" });
    bar.append(
      node("text", { x: LABEL - 8, y: y + ROW / 2, class: "bar-label" }, item.label),
      node("rect", {
        x: LABEL,
        y: y + 4,
        width: Math.max((item.value / largest) * span, 1),
        height: ROW - 8,
        rx: 2,
      }),
      node(
        "text",
        { x: LABEL + (item.value / largest) * span + 6, y: y + ROW / 2, class: "bar-value" },
        String(item.value),
      ),
    );
    svg.append(bar);
  });
  return svg;
}
