"""Procedural videos for training without downloaded data.

Every video is drawn from a seed: textured objects (superellipses with harmonic outlines, so
blobs, ellipses, rounded boxes and stars) move over a textured background seen by a moving,
zooming camera.  Objects translate with inertia and bounce off the scene's borders, rotate,
grow and shrink, and deform (their outline harmonics drift over time); they are layered in
depth, so they occlude each other, and unlabelled distractors (some wearing the texture of a
labelled object) pass in front of them.  Soft shadows, shading gradients, illumination drift,
sensor noise and blur make the frames less clean.  Given a :class:`~.photos.PhotoBank`,
backgrounds and objects also wear patches cut from photographs (``SyntheticSpec.photo_prob``).

``render_video(np.random.default_rng(seed), frames, (height, width))`` returns the same video
for the same seed on every machine (NumPy's ``Generator`` and OpenCV's deterministic drawing
and warping), so these videos can also serve as a fixed evaluation set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .photos import PhotoBank

__all__ = ["SyntheticSpec", "render_video", "random_texture"]


@dataclass(frozen=True)
class SyntheticSpec:
    """Ranges of the procedural scenes.

    Attributes:
        min_objects / max_objects: labelled objects per video.
        max_distractors: unlabelled objects per video (drawn from 0..max).
        object_size: (min, max) object diameter as a fraction of the frame's short side.
        max_speed: largest object speed, fraction of the short side per time unit.
        max_rotation: largest rotation speed, radians per time unit.
        max_scale_rate: largest relative size change per time unit (log scale).
        deformation: amplitude of the outline harmonics (0 = rigid shapes).
        camera_motion: camera pan per time unit as a fraction of the short side.
        camera_zoom: largest relative camera zoom per time unit (log scale).
        time_step: (min, max) time units between consecutive frames (random frame gaps).
        illumination: largest global gain/offset drift per time unit.
        noise: largest standard deviation of the sensor noise (0-255 scale).
        blur_prob: probability that a video is slightly blurred.
        shadow_prob: probability that an object casts a soft shadow.
        same_texture_prob: probability that a distractor wears a labelled object's texture.
        min_pixels: objects smaller than this in the first frame are not labelled.
        photo_prob: probability that a texture is cut from a photograph (when
            :func:`render_video` is given a photo bank).
    """

    min_objects: int = 1
    max_objects: int = 4
    max_distractors: int = 2
    object_size: tuple[float, float] = (0.15, 0.5)
    max_speed: float = 0.05
    max_rotation: float = 0.12
    max_scale_rate: float = 0.06
    deformation: float = 0.25
    camera_motion: float = 0.02
    camera_zoom: float = 0.02
    time_step: tuple[float, float] = (0.5, 2.0)
    illumination: float = 0.04
    noise: float = 5.0
    blur_prob: float = 0.3
    shadow_prob: float = 0.5
    same_texture_prob: float = 0.3
    min_pixels: int = 100
    photo_prob: float = 0.6


# ----------------------------------------------------------------------------- textures
def _fractal_noise(rng: np.random.Generator, height: int, width: int, octaves: int = 5,
                   base_cells: int = 3, persistence: float = 0.55) -> np.ndarray:
    """Multi-octave value noise in [0, 1] (bicubically upsampled random grids)."""
    total = np.zeros((height, width), np.float32)
    amplitude, norm = 1.0, 0.0
    cells = base_cells
    for _ in range(octaves):
        grid = rng.random((cells + 1, cells + 1), dtype=np.float32)
        total += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        norm += amplitude
        amplitude *= persistence
        cells *= 2
    total /= norm
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / max(hi - lo, 1e-6)


def _random_colors(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` RGB colours in [0, 1] of varied hue, saturation and value."""
    hsv = np.stack([rng.random(count) * 180.0,
                    rng.uniform(0.1, 1.0, count) * 255.0,
                    rng.uniform(0.15, 1.0, count) * 255.0], axis=1).astype(np.float32)
    rgb = cv2.cvtColor(hsv.reshape(count, 1, 3).astype(np.uint8), cv2.COLOR_HSV2RGB)
    return rgb.reshape(count, 3).astype(np.float32) / 255.0


def _colourise(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Map a [0, 1] field through a random piecewise-linear colour ramp -> (H, W, 3)."""
    stops = int(rng.integers(2, 5))
    colors = _random_colors(rng, stops)
    positions = np.sort(np.concatenate([[0.0, 1.0], rng.random(stops - 2)]))
    levels = np.linspace(0.0, 1.0, 1024)
    ramp = np.stack([np.interp(levels, positions, colors[:, c]) for c in range(3)],
                    axis=1).astype(np.float32)
    index = np.clip(t * 1023.0 + 0.5, 0, 1023).astype(np.int32)
    return ramp[index]


def _rotated_coords(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    angle = rng.uniform(0, math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u = xs * math.cos(angle) + ys * math.sin(angle)
    v = -xs * math.sin(angle) + ys * math.cos(angle)
    return u, v


def random_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random colour texture (H, W, 3) float32 in [0, 1].

    One of: coloured fractal noise, warped stripes, a checker or tile pattern, or scattered
    blobs over noise; always with some fine-grained noise on top.
    """
    kind = int(rng.integers(4))
    scale = min(height, width)
    if kind == 0:
        tex = _colourise(rng, _fractal_noise(rng, height, width, base_cells=int(rng.integers(2, 6))))
    elif kind == 1:
        u, _ = _rotated_coords(rng, height, width)
        period = rng.uniform(0.03, 0.25) * scale
        warp = _fractal_noise(rng, height, width, octaves=3) * rng.uniform(0, 3 * period)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * (u + warp) / period)
        if rng.random() < 0.5:
            t = (t > 0.5).astype(np.float32) * 0.8 + 0.2 * t
        tex = _colourise(rng, t.astype(np.float32))
    elif kind == 2:
        u, v = _rotated_coords(rng, height, width)
        period = rng.uniform(0.05, 0.3) * scale
        cells = (np.floor(u / period) + np.floor(v / period)) % 2
        colors = _random_colors(rng, 2)
        tex = colors[cells.astype(np.int64)]
        tex = tex * (0.85 + 0.3 * _fractal_noise(rng, height, width, octaves=3))[..., None]
    else:
        tex = _colourise(rng, _fractal_noise(rng, height, width, octaves=3))
        count = int(rng.integers(5, 40))
        colors = _random_colors(rng, count)
        for color in colors:
            center = (int(rng.integers(width)), int(rng.integers(height)))
            axes = (int(rng.uniform(0.02, 0.15) * scale) + 1,
                    int(rng.uniform(0.02, 0.15) * scale) + 1)
            cv2.ellipse(tex, center, axes, float(rng.uniform(0, 180)), 0, 360,
                        tuple(float(c) for c in color), -1, cv2.LINE_AA)
    grain = rng.standard_normal((height, width, 1), dtype=np.float32)
    grain *= np.float32(rng.uniform(0.0, 0.06))
    return np.clip(tex + grain, 0.0, 1.0, dtype=np.float32)


# ----------------------------------------------------------------------------- shapes
@dataclass
class _Shape:
    """Outline in local units: a superellipse modulated by drifting harmonics."""

    exponent: float
    aspect: float
    amplitudes: np.ndarray
    phases: np.ndarray
    phase_speeds: np.ndarray
    amplitude_speeds: np.ndarray

    @staticmethod
    def random(rng: np.random.Generator, deformation: float) -> _Shape:
        harmonics = 5
        orders = np.arange(2, 2 + harmonics)
        star = rng.random() < 0.2
        amplitudes = rng.uniform(0, deformation, harmonics) / orders ** 0.8
        if star:  # a few strong lobes
            amplitudes[int(rng.integers(1, harmonics))] += rng.uniform(0.2, 0.4)
        return _Shape(exponent=float(np.exp(rng.uniform(np.log(1.2), np.log(6.0)))),
                      aspect=float(rng.uniform(0.45, 1.0)),
                      amplitudes=amplitudes.astype(np.float64),
                      phases=rng.uniform(0, 2 * math.pi, harmonics),
                      phase_speeds=rng.uniform(-0.3, 0.3, harmonics) * (deformation > 0),
                      amplitude_speeds=rng.uniform(0.1, 0.5, harmonics) * (deformation > 0))

    def outline(self, t: float, points: int = 96) -> np.ndarray:
        """(points, 2) outline at time ``t``, radius about 1."""
        theta = np.linspace(0, 2 * math.pi, points, endpoint=False)
        c, s = np.cos(theta), np.sin(theta)
        p = self.exponent
        radius = (np.abs(c) ** p + np.abs(s) ** p) ** (-1.0 / p)
        orders = np.arange(2, 2 + len(self.amplitudes))[:, None]
        amps = (self.amplitudes * (1 + 0.5 * np.sin(self.amplitude_speeds * t)))[:, None]
        modulation = 1 + np.sum(amps * np.sin(orders * theta[None] + self.phases[:, None]
                                              + self.phase_speeds[:, None] * t), axis=0)
        radius = radius * np.clip(modulation, 0.35, None)
        return np.stack([radius * c, radius * s * self.aspect], axis=1)


@dataclass
class _Layer:
    """One object (labelled or distractor) with its texture and motion."""

    label: int  # 0 for distractors
    depth: float
    shape: _Shape
    texture: np.ndarray  # (P, P, 3) float32, covers local [-_EXTENT, _EXTENT]^2
    center: np.ndarray  # world position at t = 0
    velocity: np.ndarray
    acceleration: np.ndarray
    size: float  # radius in world pixels at t = 0
    scale_rate: float
    angle: float
    spin: float
    shade: np.ndarray  # linear shading gradient (2,)
    shadow: bool


_EXTENT = 1.8  # local half-width covered by an object's texture patch


@dataclass
class _Camera:
    """World -> screen similarity transform over time."""

    center: np.ndarray  # world point at the screen centre at t = 0
    velocity: np.ndarray
    zoom_rate: float
    spin: float

    def matrix(self, t: float, screen: tuple[int, int]) -> np.ndarray:
        """2x3 affine mapping world pixels to screen pixels at time ``t``."""
        height, width = screen
        zoom = math.exp(self.zoom_rate * t)
        angle = self.spin * t
        c, s = math.cos(angle) * zoom, math.sin(angle) * zoom
        cx, cy = self.center + self.velocity * t
        rot = np.array([[c, -s], [s, c]])
        offset = np.array([width / 2.0, height / 2.0]) - rot @ np.array([cx, cy])
        return np.concatenate([rot, offset[:, None]], axis=1)


def _texture(rng: np.random.Generator, height: int, width: int, spec: SyntheticSpec,
             photos: PhotoBank | None) -> np.ndarray:
    if photos is not None and rng.random() < spec.photo_prob:
        return photos.texture(rng, height, width)
    return random_texture(rng, height, width)


def _new_layer(rng: np.random.Generator, spec: SyntheticSpec, label: int, short: float,
               start: np.ndarray, texture: np.ndarray | None,
               photos: PhotoBank | None = None) -> _Layer:
    size = rng.uniform(*spec.object_size) * short / 2
    patch = int(min(max(2 * _EXTENT * size * 1.4, 32), 512))
    if texture is None:
        texture = _texture(rng, patch, patch, spec, photos)
    direction = rng.uniform(0, 2 * math.pi)
    speed = rng.uniform(0, spec.max_speed) * short
    return _Layer(label=label, depth=float(rng.random()),
                  shape=_Shape.random(rng, spec.deformation), texture=texture,
                  center=start.astype(np.float64),
                  velocity=speed * np.array([math.cos(direction), math.sin(direction)]),
                  acceleration=rng.normal(0, 0.1 * spec.max_speed * short, 2),
                  size=size, scale_rate=rng.uniform(-spec.max_scale_rate, spec.max_scale_rate),
                  angle=rng.uniform(0, 2 * math.pi),
                  spin=rng.uniform(-spec.max_rotation, spec.max_rotation),
                  shade=rng.uniform(-0.25, 0.25, 2), shadow=bool(rng.random() < spec.shadow_prob))


def _simulate(layer: _Layer, times: np.ndarray, bounds: tuple[float, float, float, float],
              ) -> list[tuple[np.ndarray, float, float]]:
    """World (centre, radius, angle) per time; the centre bounces inside ``bounds``."""
    x0, y0, x1, y1 = bounds
    poses = []
    pos = layer.center.copy()
    vel = layer.velocity.copy()
    last = 0.0
    for t in times:
        dt = t - last
        last = t
        vel = vel + layer.acceleration * dt
        speed = float(np.linalg.norm(vel))
        limit = float(np.linalg.norm(layer.velocity)) * 2 + 1e-6
        if speed > limit:
            vel *= limit / speed
        pos = pos + vel * dt
        for axis, (lo, hi) in enumerate(((x0, x1), (y0, y1))):
            if pos[axis] < lo:
                pos[axis] = 2 * lo - pos[axis]
                vel[axis] = abs(vel[axis])
            elif pos[axis] > hi:
                pos[axis] = 2 * hi - pos[axis]
                vel[axis] = -abs(vel[axis])
        radius = layer.size * math.exp(np.clip(layer.scale_rate * t, -0.7, 0.7))
        poses.append((pos.copy(), radius, layer.angle + layer.spin * t))
    return poses


def _render_layer(frame: np.ndarray, labels: np.ndarray, layer: _Layer, t: float,
                  pose: tuple[np.ndarray, float, float], camera: np.ndarray,
                  light: float) -> None:
    """Composite one object into ``frame`` (float32 RGB) and ``labels`` (in place)."""
    height, width = labels.shape
    center, radius, angle = pose
    zoom = math.hypot(camera[0, 0], camera[1, 0])
    cam_angle = math.atan2(camera[1, 0], camera[0, 0])
    screen_center = camera[:, :2] @ center + camera[:, 2]
    screen_radius = radius * zoom
    theta = angle + cam_angle
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    outline = layer.shape.outline(t) @ rot.T * screen_radius + screen_center
    # quick reject when the object is entirely outside the frame
    if (outline[:, 0].max() < 0 or outline[:, 1].max() < 0 or outline[:, 0].min() >= width
            or outline[:, 1].min() >= height):
        return
    # work inside the object's bounding box (with room for the shadow and its blur)
    pad = screen_radius * 0.5 + 4 if layer.shadow else 2
    x0 = max(int(math.floor(outline[:, 0].min() - pad)), 0)
    y0 = max(int(math.floor(outline[:, 1].min() - pad)), 0)
    x1 = min(int(math.ceil(outline[:, 0].max() + pad)) + 1, width)
    y1 = min(int(math.ceil(outline[:, 1].max() + pad)) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return
    roi_w, roi_h = x1 - x0, y1 - y0
    local = outline - np.array([x0, y0])
    shift = 4
    points = np.round(local * (1 << shift)).astype(np.int32).reshape(1, -1, 2)
    alpha8 = np.zeros((roi_h, roi_w), np.uint8)
    cv2.fillPoly(alpha8, points, 255, cv2.LINE_AA, shift)
    hard = np.zeros((roi_h, roi_w), np.uint8)
    cv2.fillPoly(hard, points, 1, cv2.LINE_8, shift)
    alpha = alpha8.astype(np.float32) / 255.0
    roi = frame[y0:y1, x0:x1]

    if layer.shadow:
        offset = screen_radius * 0.15
        shadow_pts = np.round((local + offset) * (1 << shift)).astype(np.int32).reshape(1, -1, 2)
        shadow = np.zeros((roi_h, roi_w), np.uint8)
        cv2.fillPoly(shadow, shadow_pts, 255, cv2.LINE_AA, shift)
        sigma = max(screen_radius * 0.12, 1.0)
        shadow_f = cv2.GaussianBlur(shadow.astype(np.float32) / 255.0, (0, 0), sigma)
        roi *= (1.0 - 0.35 * shadow_f)[..., None]

    patch = layer.texture.shape[0]
    unit = 2 * _EXTENT / patch  # local units per texture pixel
    lin = rot * screen_radius * unit
    origin = screen_center - np.array([x0, y0]) - lin @ np.array([patch / 2.0, patch / 2.0])
    warp = np.concatenate([lin, origin[:, None]], axis=1)
    texture = cv2.warpAffine(layer.texture, warp, (roi_w, roi_h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
    # shading: a linear light gradient across the object, in screen space
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    grad = (layer.shade[0] * (xs - screen_center[0]) + layer.shade[1] * (ys - screen_center[1]))
    shading = np.clip(1.0 + grad / max(screen_radius, 1.0), 0.5, 1.5) * light
    roi *= (1.0 - alpha)[..., None]
    roi += texture * (alpha * shading)[..., None]
    labels[y0:y1, x0:x1][hard > 0] = layer.label


def render_video(rng: np.random.Generator, num_frames: int, size: tuple[int, int],
                 spec: SyntheticSpec | None = None, photos: PhotoBank | None = None,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Draw one procedural video.

    Args:
        rng: the source of randomness (the video is a function of its state).
        num_frames: frames to render.
        size: (height, width) of the frames.
        spec: scene ranges; default :class:`SyntheticSpec`.
        photos: photographs to cut textures from (``spec.photo_prob`` of the textures); None
            for procedural textures only.

    Returns:
        frames (T, H, W, 3) uint8 RGB and labels (T, H, W) uint8, objects numbered 1..N by
        first appearance in frame 0 (objects not visible in frame 0 are never labelled).
    """
    spec = spec or SyntheticSpec()
    height, width = size
    short = float(min(height, width))
    gaps = rng.uniform(*spec.time_step, max(num_frames - 1, 0))
    times = np.concatenate([[0.0], np.cumsum(gaps)])

    # the world: a background canvas larger than the screen, for the camera to move over
    margin = 0.35
    world_h, world_w = int(height * (1 + 2 * margin)), int(width * (1 + 2 * margin))
    background = _texture(rng, world_h, world_w, spec, photos)
    if rng.random() < 0.5:  # large-scale structure: a second texture through a soft mask
        other = _texture(rng, world_h, world_w, spec, photos)
        blend = _fractal_noise(rng, world_h, world_w, octaves=2, base_cells=2)
        sharp = rng.uniform(2, 10)
        blend = 1 / (1 + np.exp(-sharp * (blend - 0.5)))
        blend = blend.astype(np.float32)[..., None]
        background = (background * (1 - blend) + other * blend).astype(np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    pan = rng.uniform(0, spec.camera_motion) * short
    camera = _Camera(center=np.array([world_w / 2.0, world_h / 2.0]),
                     velocity=pan * np.array([math.cos(direction), math.sin(direction)]),
                     zoom_rate=rng.uniform(-spec.camera_zoom, spec.camera_zoom),
                     spin=rng.uniform(-0.01, 0.01))
    cam0 = camera.matrix(0.0, size)
    inv0 = cv2.invertAffineTransform(cam0)

    def world_point(sx: float, sy: float) -> np.ndarray:
        return inv0[:, :2] @ np.array([sx, sy]) + inv0[:, 2]

    layers: list[_Layer] = []
    count = int(rng.integers(spec.min_objects, spec.max_objects + 1))
    for index in range(count):
        start = world_point(rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height)
        layers.append(_new_layer(rng, spec, index + 1, short, start, None, photos))
    labelled = list(layers)
    bounds = (0.0, 0.0, float(world_w), float(world_h))
    for _ in range(int(rng.integers(0, spec.max_distractors + 1))):
        texture = None
        if labelled and rng.random() < spec.same_texture_prob:
            texture = labelled[int(rng.integers(len(labelled)))].texture
        if labelled and rng.random() < 0.6:  # aim at an object to force an occlusion
            target = labelled[int(rng.integers(len(labelled)))]
            meet = times[-1] * rng.uniform(0.3, 0.9)
            target_pose = _simulate(target, np.array([meet]), bounds)[0][0]
            start = world_point(rng.uniform(0, width), rng.uniform(0, height))
            layer = _new_layer(rng, spec, 0, short, start, texture, photos)
            layer.acceleration = np.zeros(2)
            layer.velocity = (target_pose - start) / max(meet, 1e-3)
            layer.depth = 1.0 + float(rng.random())  # in front
        else:
            start = world_point(rng.uniform(0, width), rng.uniform(0, height))
            layer = _new_layer(rng, spec, 0, short, start, texture, photos)
        layers.append(layer)
    layers.sort(key=lambda item: item.depth)
    poses = [_simulate(layer, times, bounds) for layer in layers]

    blur_sigma = rng.uniform(0.5, 1.5) if rng.random() < spec.blur_prob else 0.0
    noise_sigma = rng.uniform(0, spec.noise)
    gain_rate = rng.uniform(-spec.illumination, spec.illumination)
    bias_rate = rng.uniform(-spec.illumination, spec.illumination)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    label_maps = np.zeros((num_frames, height, width), np.uint8)
    for index, t in enumerate(times):
        cam = camera.matrix(float(t), size)
        frame = cv2.warpAffine(background, cam, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        light = float(1.0 + gain_rate * t)
        frame *= np.float32(light)
        frame += np.float32(bias_rate * t)
        for layer, layer_poses in zip(layers, poses):
            _render_layer(frame, label_maps[index], layer, float(t), layer_poses[index], cam,
                          light)
        if blur_sigma > 0:
            frame = cv2.GaussianBlur(frame, (0, 0), blur_sigma)
        if noise_sigma > 0:
            noise = rng.standard_normal(frame.shape, dtype=np.float32)
            frame += noise * np.float32(noise_sigma / 255.0)
        frames[index] = np.clip(frame * 255.0 + 0.5, 0, 255).astype(np.uint8)

    # objects must be visible in the first frame; renumber 1..N
    lut = np.zeros(256, np.uint8)
    next_id = 1
    for obj in range(1, count + 1):
        if int(np.count_nonzero(label_maps[0] == obj)) > spec.min_pixels:
            lut[obj] = next_id
            next_id += 1
    return frames, lut[label_maps]
