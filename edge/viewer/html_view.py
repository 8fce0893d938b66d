"""`inspect --html`: one self-contained page with an interactive 3D view of the scored scan, offline.

Everything is inside the file (data as base64, a small canvas renderer in plain JavaScript; no CDN, no WebGL
needed): drag to rotate, wheel to zoom, double-click to reset. Points are coloured by calibrated score (the
legend marks the threshold at 0.5), missing material is magenta, regions are boxes labelled with their kind
and size, and the axes show a round length in millimetres.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from edge.viewer.scene import MISSING_COLOUR, Scene, score_colours

MAX_PAGE_POINTS = 200_000
"""Larger scans are subsampled (evenly, with every point above the threshold kept) so the page stays small."""


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _shown(scene: Scene, limit: int) -> np.ndarray:
    """Indices of the scan points drawn on the page."""
    n = len(scene.points)
    if n <= limit:
        return np.arange(n)
    hot = np.flatnonzero(np.nan_to_num(scene.scores, nan=0.0) >= scene.threshold)
    rest = np.setdiff1d(np.arange(n), hot)
    take = max(limit - len(hot), 0)
    return np.union1d(hot[:limit], rest[np.linspace(0, len(rest) - 1, take).astype(int)] if take else [])


def page_data(scene: Scene, limit: int = MAX_PAGE_POINTS) -> dict:
    """The JSON the page draws: points and colours (base64), regions, legend stops."""
    shown = _shown(scene, limit).astype(int)
    points = np.concatenate([scene.points[shown], scene.missing]).astype("<f4")
    colours = np.concatenate([score_colours(scene.scores[shown]),
                              np.tile(np.uint8(MISSING_COLOUR), (len(scene.missing), 1))]).astype(np.uint8)
    stops = score_colours(np.linspace(0.0, 1.0, 11)).tolist()
    regions = [{**r.to_wire(), "box": [list(np.asarray(r.centroid) - np.asarray(r.extent) / 2),
                                       list(np.asarray(r.centroid) + np.asarray(r.extent) / 2)]} for r in scene.regions]
    return {"points": _b64(points), "colours": _b64(colours), "count": len(points), "scan_points": len(scene.points),
            "shown_points": int(len(shown)), "missing_points": int(len(scene.missing)), "regions": regions,
            "stops": stops, "threshold": scene.threshold, "missing_colour": list(MISSING_COLOUR)}


def write_scene_html(scene: Scene, out: str | Path, *, limit: int = MAX_PAGE_POINTS) -> Path:
    """Write the page of ``scene`` to ``out``; the path written."""
    data = json.dumps(page_data(scene, limit)).replace("</", "<\\/")
    page = _TEMPLATE.replace("__TITLE__", html.escape(scene.title or "pcinspect result")).replace("__DATA__", data)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{margin:0;font:14px system-ui,sans-serif;background:#fff;color:#222}
#view{display:block;width:100vw;height:100vh;cursor:grab}
#panel{position:absolute;top:8px;left:8px;background:rgba(255,255,255,.85);padding:8px 10px;border:1px solid #ccc}
#bar{width:220px;height:14px;margin:4px 0}
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px}
table{border-collapse:collapse;margin-top:6px}td,th{padding:1px 6px;text-align:right;font-size:12px}
</style></head><body>
<canvas id="view"></canvas>
<div id="panel"><b>__TITLE__</b><div id="summary"></div>
<canvas id="bar" width="220" height="14"></canvas>
<div style="display:flex;justify-content:space-between;width:220px"><span>0</span><span>0.5 threshold</span><span>1</span></div>
<div><span class="sw" id="miss"></span>missing material (template) <span class="sw" style="background:#888"></span>unscored</div>
<table id="regions"></table>
<div style="font-size:12px;color:#555">drag: rotate, wheel: zoom, double-click: reset; axes and sizes in mm (scan frame)</div></div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
function decode(s, T){const b=atob(s);const u=new Uint8Array(b.length);for(let i=0;i<b.length;i++)u[i]=b.charCodeAt(i);return new T(u.buffer);}
const P = decode(D.points, Float32Array), C = decode(D.colours, Uint8Array), N = D.count;
const lo=[Infinity,Infinity,Infinity], hi=[-Infinity,-Infinity,-Infinity];
for(let i=0;i<N;i++)for(let a=0;a<3;a++){const v=P[3*i+a];if(v<lo[a])lo[a]=v;if(v>hi[a])hi[a]=v;}
const centre=[0,1,2].map(a=>(lo[a]+hi[a])/2), diag=Math.hypot(hi[0]-lo[0],hi[1]-lo[1],hi[2]-lo[2])||1;
function niceLength(x){const p=Math.pow(10,Math.floor(Math.log10(x)));for(const m of [5,2,1])if(m*p<=x)return m*p;return p;}
const axisLength=niceLength(diag/4);
let yaw=0.7, pitch=-0.45, zoom=1;
const canvas=document.getElementById("view"), ctx=canvas.getContext("2d");
function rot(){const cy=Math.cos(yaw),sy=Math.sin(yaw),cp=Math.cos(pitch),sp=Math.sin(pitch);
  return [[cy,0,sy],[sp*sy,cp,-sp*cy],[-cp*sy,sp,cp*cy]];}
function draw(){
  const W=canvas.width=canvas.clientWidth, H=canvas.height=canvas.clientHeight, R=rot(), s=zoom*0.8*Math.min(W,H)/diag;
  const project=p=>{const x=p[0]-centre[0],y=p[1]-centre[1],z=p[2]-centre[2];
    return [W/2+s*(R[0][0]*x+R[0][1]*y+R[0][2]*z), H/2-s*(R[1][0]*x+R[1][1]*y+R[1][2]*z), R[2][0]*x+R[2][1]*y+R[2][2]*z];};
  const img=ctx.createImageData(W,H), px=img.data, depth=new Float32Array(W*H).fill(-Infinity);
  for(let i=0;i<px.length;i++)px[i]=255;
  const size=Math.max(2,Math.round(Math.min(W,H)/300));
  for(let i=0;i<N;i++){const q=project([P[3*i],P[3*i+1],P[3*i+2]]);const x0=Math.round(q[0]),y0=Math.round(q[1]);
    for(let dy=0;dy<size;dy++)for(let dx=0;dx<size;dx++){const x=x0+dx,y=y0+dy;if(x<0||y<0||x>=W||y>=H)continue;
      const k=y*W+x;if(q[2]<=depth[k])continue;depth[k]=q[2];px[4*k]=C[3*i];px[4*k+1]=C[3*i+1];px[4*k+2]=C[3*i+2];px[4*k+3]=255;}}
  ctx.putImageData(img,0,0);
  D.regions.forEach((r,j)=>{const [a,b]=r.box;const c=[];for(let m=0;m<8;m++)c.push(project([(m&1?b:a)[0],(m&2?b:a)[1],(m&4?b:a)[2]]));
    ctx.strokeStyle=r.kind==="missing"?"rgb("+D.missing_colour+")":"#d00000";ctx.lineWidth=2;ctx.beginPath();
    for(const [u,v] of [[0,1],[2,3],[4,5],[6,7],[0,2],[1,3],[4,6],[5,7],[0,4],[1,5],[2,6],[3,7]]){ctx.moveTo(c[u][0],c[u][1]);ctx.lineTo(c[v][0],c[v][1]);}
    ctx.stroke();ctx.fillStyle="#000";ctx.font="13px sans-serif";ctx.fillText("R"+(j+1)+" "+r.kind,c[7][0]+4,c[7][1]);});
  const o=project(lo);["x","y","z"].forEach((name,a)=>{const e=lo.slice();e[a]+=axisLength;const q=project(e);
    ctx.strokeStyle=["#c00","#0a0","#00c"][a];ctx.lineWidth=2;ctx.beginPath();ctx.moveTo(o[0],o[1]);ctx.lineTo(q[0],q[1]);ctx.stroke();
    ctx.fillStyle=ctx.strokeStyle;ctx.fillText(name+" "+axisLength+" mm",q[0]+3,q[1]);});
}
function legend(){const bar=document.getElementById("bar").getContext("2d");const g=bar.createLinearGradient(0,0,220,0);
  D.stops.forEach((c,i)=>g.addColorStop(i/(D.stops.length-1),"rgb("+c+")"));bar.fillStyle=g;bar.fillRect(0,0,220,14);
  bar.fillStyle="#fff";bar.fillRect(109,0,2,14);
  document.getElementById("miss").style.background="rgb("+D.missing_colour+")";
  document.getElementById("summary").textContent=D.shown_points+" of "+D.scan_points+" scan points shown, "+D.missing_points+" missing-material points";
  const t=document.getElementById("regions");if(!D.regions.length)return;
  t.innerHTML="<tr><th>#</th><th>kind</th><th>centroid mm</th><th>extent mm</th><th>points</th><th>peak</th></tr>"+
    D.regions.map((r,j)=>"<tr><td>R"+(j+1)+"</td><td>"+r.kind+"</td><td>"+r.centroid.map(v=>v.toFixed(1)).join(" ")+"</td><td>"+
    r.extent.map(v=>v.toFixed(1)).join(" ")+"</td><td>"+r.points+"</td><td>"+r.peak.toFixed(3)+"</td></tr>").join("");}
let drag=null;
canvas.addEventListener("mousedown",e=>{drag=[e.clientX,e.clientY];});
window.addEventListener("mouseup",()=>{drag=null;});
window.addEventListener("mousemove",e=>{if(!drag)return;yaw+=(e.clientX-drag[0])*0.01;pitch+=(e.clientY-drag[1])*0.01;drag=[e.clientX,e.clientY];draw();});
canvas.addEventListener("wheel",e=>{e.preventDefault();zoom*=Math.exp(-e.deltaY*0.001);draw();},{passive:false});
canvas.addEventListener("dblclick",()=>{yaw=0.7;pitch=-0.45;zoom=1;draw();});
window.addEventListener("resize",draw);
legend();draw();
</script></body></html>
"""
