// The home page's footprint thumbnail: the widest MOC of /moc, drawn as an SVG of its HEALPix cells.
import { base, vo, el } from "./portal.js";

const JRLL = [2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4];
const JPLL = [1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7];

// Centre (RA, Dec in degrees) of NESTED cell ``ipix`` at ``order``: HEALPix's pix2ang_nest
// (Górski et al. 2005, ApJ 622, 759; healpix_base.cc nest2xyf and xyf2ang), in plain arithmetic
// since cell numbers pass 2^31 from order 15 on.
export function cellCentre(order, ipix) {
  const nside = 2 ** order, npface = nside * nside;
  const face = Math.floor(ipix / npface);
  let rest = ipix % npface, ix = 0, iy = 0;
  for (let bit = 0; bit < order; bit++) {  // x in the even bits, y in the odd ones
    ix += (rest % 2) * 2 ** bit; rest = Math.floor(rest / 2);
    iy += (rest % 2) * 2 ** bit; rest = Math.floor(rest / 2);
  }
  const jr = JRLL[face] * nside - ix - iy - 1;
  let nr, z, kshift;
  if (jr < nside) { nr = jr; z = 1 - (nr * nr) / (3 * npface); kshift = 0; }
  else if (jr > 3 * nside) { nr = 4 * nside - jr; z = (nr * nr) / (3 * npface) - 1; kshift = 0; }
  else { nr = nside; z = ((2 * nside - jr) * 2) / (3 * nside); kshift = (jr - nside) % 2; }
  let jp = (JPLL[face] * nr + ix - iy + 1 + kshift) / 2;
  if (jp > 4 * nside) jp -= 4 * nside;
  if (jp < 1) jp += 4 * nside;
  const phi = (jp - (kshift + 1) * 0.5) * (Math.PI / 2 / nr);
  return [(phi * 180) / Math.PI, (Math.asin(z) * 180) / Math.PI];
}

const SVG = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs) => {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};

// The cells as squares on a plane tangent at the first cell (RA grows to the left, as on the sky).
function thumbnail(moc, title) {
  const cells = Object.entries(moc).flatMap(([order, ids]) => ids.map((id) => [Number(order), id]));
  const centres = cells.map(([order, id]) => [...cellCentre(order, id), Math.sqrt(41252.96 / (12 * 4 ** order))]);
  const [ra0, dec0] = centres[0];
  const cosDec = Math.cos((dec0 * Math.PI) / 180);
  const points = centres.map(([ra, dec, side]) => [-(((ra - ra0 + 540) % 360) - 180) * cosDec, -dec, side]);
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const spread = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
  const margin = Math.max(...points.map((p) => p[2]), spread / 40);
  const [x0, y0] = [Math.min(...xs) - margin, Math.min(...ys) - margin];
  const width = Math.max(...xs) + margin - x0, height = Math.max(...ys) + margin - y0;
  const svg = svgEl("svg", { viewBox: `${x0} ${y0} ${width} ${height}`, role: "img", "aria-label": title,
                             preserveAspectRatio: "xMidYMid meet" });
  const group = svgEl("g", { fill: "#0b5cad" });
  const least = Math.max(width, height) / 50;  // islands far apart stay visible as marks
  for (const [x, y, cell] of points) {
    const side = Math.max(cell * 1.02, least);
    group.append(svgEl("rect", { x: x - side / 2, y: y - side / 2, width: side, height: side }));
  }
  svg.append(group);
  return svg;
}

const figure = document.getElementById("footprint-thumb");
try {
  const footprints = await (await vo(`${base}/moc?format=json`)).json();
  const widest = footprints.reduce((a, b) => (b.sky_fraction > (a?.sky_fraction ?? -1) ? b : a), null);
  if (widest) {
    const moc = await (await vo(`${widest.url}?format=json`)).json();
    const title = `Footprint of ${widest.name}: ${widest.area_deg2.toFixed(2)} square degrees`;
    figure.replaceChildren(el("a", { href: `${base}/footprint` }, thumbnail(moc, title)),
      el("figcaption", {}, el("a", { href: `${base}/footprint` }, "Footprint"), ` of ${widest.name}, `,
        `${widest.area_deg2.toFixed(2)} deg² (`, el("a", { href: `${widest.url}?format=fits` }, "MOC"), ")"));
  } else {
    figure.remove();
  }
} catch {
  figure.remove();  // no footprints served here: the list of pages says enough
}
