// Control queries: draws each trajectory segment from its stored states on a
// canvas and animates all segments in sync, looping. State layouts:
//   CartPole-v1 [x, x_dot, theta, theta_dot]   theta 0 = upright, x in metres, track ±2.4
//   Pendulum-v1 [theta, theta_dot]             theta 0 = upright, counter-clockwise positive
//   Acrobot-v1  [theta1, theta2, dtheta1, dtheta2]  theta1 0 = hanging down, links of length 1
//   Reacher     [q1, q2, dq1, dq2, target_x, target_y]  links of 0.1, arena ±0.2
(function () {
  "use strict";
  var root = document.getElementById("control");
  if (!root) return;
  var p;
  try { p = JSON.parse(root.getAttribute("data-payload")); } catch (e) { return; }
  var colors = ["#2f6fde", "#e0702a", "#1f9d6a", "#9b51e0", "#c6362f", "#0e9aa7"];
  var W = 480, H = 320;

  function line(ctx, x1, y1, x2, y2, color, width) {
    ctx.strokeStyle = color; ctx.lineWidth = width; ctx.lineCap = "round";
    ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(x2, y2); ctx.stroke();
  }
  function dot(ctx, x, y, r, color) {
    ctx.fillStyle = color; ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI); ctx.fill();
  }

  var drawers = {
    "CartPole-v1": function (ctx, s, color) {
      var scale = W / 5.6, cx = W / 2, ground = H * 0.72;
      line(ctx, cx - 2.4 * scale, ground, cx + 2.4 * scale, ground, "#98a2b3", 2);
      line(ctx, cx - 2.4 * scale, ground - 8, cx - 2.4 * scale, ground + 8, "#c6362f", 2);
      line(ctx, cx + 2.4 * scale, ground - 8, cx + 2.4 * scale, ground + 8, "#c6362f", 2);
      var x = cx + s[0] * scale, cw = 0.5 * scale, ch = 0.28 * scale;
      ctx.fillStyle = "#344054";
      ctx.fillRect(x - cw / 2, ground - ch, cw, ch);
      var px = x, py = ground - ch * 0.75, L = 1.0 * scale;
      line(ctx, px, py, px + L * Math.sin(s[2]), py - L * Math.cos(s[2]), color, 8);
      dot(ctx, px, py, 4, "#fff");
    },
    "Pendulum-v1": function (ctx, s, color) {
      var cx = W / 2, cy = H / 2, r = H * 0.38;
      ctx.strokeStyle = "#e3e6eb"; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.arc(cx, cy, r, 0, 2 * Math.PI); ctx.stroke();
      line(ctx, cx, cy - r - 10, cx, cy - r + 10, "#98a2b3", 2);
      var tx = cx - r * Math.sin(s[0]), ty = cy - r * Math.cos(s[0]);
      line(ctx, cx, cy, tx, ty, color, 10);
      dot(ctx, tx, ty, 9, color);
      dot(ctx, cx, cy, 5, "#344054");
    },
    "Acrobot-v1": function (ctx, s, color) {
      var scale = H / 4.6, cx = W / 2, cy = H / 2;
      ctx.setLineDash([6, 6]);
      line(ctx, cx - 2.2 * scale, cy - scale, cx + 2.2 * scale, cy - scale, "#98a2b3", 1.5);
      ctx.setLineDash([]);
      var x1 = cx + scale * Math.sin(s[0]), y1 = cy + scale * Math.cos(s[0]);
      var x2 = x1 + scale * Math.sin(s[0] + s[1]), y2 = y1 + scale * Math.cos(s[0] + s[1]);
      line(ctx, cx, cy, x1, y1, color, 8);
      line(ctx, x1, y1, x2, y2, color, 8);
      dot(ctx, cx, cy, 5, "#344054");
      dot(ctx, x1, y1, 4, "#fff");
      dot(ctx, x2, y2, 5, "#344054");
    },
    "Reacher": function (ctx, s, color) {
      var scale = (H - 20) / 0.44, cx = W / 2, cy = H / 2;
      ctx.strokeStyle = "#c9ced6"; ctx.lineWidth = 1.5;
      ctx.strokeRect(cx - 0.2 * scale, cy - 0.2 * scale, 0.4 * scale, 0.4 * scale);
      dot(ctx, cx + s[4] * scale, cy - s[5] * scale, 7, "#c6362f");
      var x1 = cx + 0.1 * scale * Math.cos(s[0]), y1 = cy - 0.1 * scale * Math.sin(s[0]);
      var x2 = x1 + 0.1 * scale * Math.cos(s[0] + s[1]), y2 = y1 - 0.1 * scale * Math.sin(s[0] + s[1]);
      line(ctx, cx, cy, x1, y1, color, 8);
      line(ctx, x1, y1, x2, y2, color, 8);
      dot(ctx, cx, cy, 5, "#344054");
      dot(ctx, x2, y2, 5, "#344054");
    }
  };
  var env = p.env || "";
  var draw = drawers[env] || (env.indexOf("Reacher") === 0 ? drawers.Reacher : null);
  if (!draw || !p.segments) return;

  var n = p.segments.length, clips = [];
  p.segments.forEach(function (seg, i) {
    var fig = document.createElement("figure");
    fig.className = "clip";
    var cap = document.createElement("figcaption");
    cap.textContent = n === 2 ? (i === 0 ? "Left" : "Right") : "#" + (i + 1);
    var c = document.createElement("canvas");
    c.width = W; c.height = H;
    c.setAttribute("aria-label", cap.textContent + " clip of " + env);
    fig.appendChild(cap); fig.appendChild(c);
    root.appendChild(fig);
    clips.push({ ctx: c.getContext("2d"), states: seg.states || [], color: colors[i % colors.length], canvas: c });
  });

  var dt = p.dt > 0 ? p.dt : 0.05;
  var T = 0;
  clips.forEach(function (c) { T = Math.max(T, c.states.length); });
  var hold = Math.round(0.6 / dt); // pause on the last frame before looping
  var paused = false, frame = 0, last = null, acc = 0;

  function render() {
    clips.forEach(function (c) {
      var ctx = c.ctx;
      ctx.clearRect(0, 0, W, H);
      if (!c.states.length) return;
      var i = Math.min(frame, c.states.length - 1);
      draw(ctx, c.states[i], c.color);
      ctx.fillStyle = "#667085"; ctx.font = "13px system-ui, sans-serif";
      ctx.fillText("t = " + (i * dt).toFixed(2) + " s" + (paused ? "  (paused)" : ""), 10, H - 10);
      ctx.fillStyle = "#e3e6eb"; ctx.fillRect(0, H - 4, W, 4);
      ctx.fillStyle = c.color; ctx.fillRect(0, H - 4, W * (i + 1) / c.states.length, 4);
    });
  }
  function tick(now) {
    if (last === null) last = now;
    if (!paused) {
      acc += (now - last) / 1000;
      while (acc >= dt) { acc -= dt; frame = (frame + 1) % (T + hold); }
    }
    last = now;
    render();
    window.requestAnimationFrame(tick);
  }
  clips.forEach(function (c) {
    c.canvas.addEventListener("click", function () { paused = !paused; render(); });
  });
  render();
  window.requestAnimationFrame(tick);
})();
