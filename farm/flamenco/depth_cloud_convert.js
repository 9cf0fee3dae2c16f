// SPDX-License-Identifier: GPL-3.0-or-later
//
// Flamenco job type "Depth Cloud: Convert Sequence" (job type name: depth-cloud-convert,
// Flamenco derives it from this file name with "_" -> "-").
//
// Per chunk of frames, one task with one `exec` command runs the project's CLI on a Worker
// (pip-installed `depth-cloud`, no Blender needed):
//
//   depth-cloud convert 'frames/depth_####.exr' --frames 11-20 --jobs N -o 'out/cloud_####.ply'
//       [--camera 'frames/camera_####.json'] --stride K --space world --depth-kind auto --format ply
//
// With the setting `fuse` (a fuse job), each chunk task writes the exact voxel sums of its frames
// to a partial grid, and one merge task, which depends on every chunk task, adds them up into the
// one fused cloud (the same bytes as one machine fusing every frame; see farm/README.md):
//
//   depth-cloud convert 'frames/depth_####.exr' --frames 11-20 -o 'out/fused_partials/partial_11-20.npz'
//       --fuse --voxel S --partial [--camera ...] --stride K --space world --depth-kind auto
//   depth-cloud merge 'out/fused_partials/partial_1-10.npz' ... -o 'out/fused.ply' --format ply
//
// API followed: Flamenco 3.x job compiler scripts (JOB_TYPE + compileJob(job), the global
// `author` module: author.Task(name, type), author.Command(name, parameters, totalStepCount),
// task.addCommand(), job.addTask()), as documented at
// https://flamenco.blender.org/usage/job-types/ and in the built-in
// internal/manager/job_compilers/scripts/simple_blender_render.js, checked against the
// source of Flamenco 3.9-beta1 (projects.blender.org/studio/flamenco, read through the
// GitHub mirror mateusabelli/flamenco): the Manager's internal/manager/job_compilers/
// {scripts,file_loader,author,job_compilers,js_globals}.go, the setting schema in
// pkg/api/flamenco-openapi.yaml (AvailableJobSetting), and the Worker's
// internal/worker/{command_exec,state_awake}.go and cli_runner/cli_runner.go. The `exec`
// command ({exe, args}; the executable is run directly, not through a shell; exit status
// 0 = success) exists since Flamenco 3.3, so this script needs a Manager and Workers of
// version 3.3 or newer.
//
// Notes from that source:
//  - The Manager compiles this file with goja in strict mode and calls compileJob(job);
//    `module` is not defined there, so the export at the bottom is skipped in Flamenco.
//  - The Manager does not fill in `default` values of settings that a submission (for
//    example a POST /api/v3/jobs) leaves out, nor check `required` or `choices`;
//    compileJob() applies and checks them itself.
//  - Frame chunking is done here (parseFrameSpec / chunkFrames), not with Flamenco's
//    frameChunker global, so the same code runs under Node's test runner. Like frameChunker
//    (js_globals.go), it reads both "A-B" and Blender's "A..B"; the chunks it passes to
//    `--frames` are always "A-B" or "N", which every depth-cloud version reads.
//  - author.Command(name, parameters, totalStepCount): the third argument exists since
//    Flamenco 3.8 (author.go); older Managers ignore it (goja drops extra arguments to Go
//    functions). The Worker's `exec` command reports no steps of its own, so this script
//    passes 0: "no steps", and the Worker counts the command as one step when it finishes.
//  - Cancelling: the Worker runs `exec` with Go's exec.CommandContext (cli_runner.go) and
//    no process group, so a cancel SIGKILLs only the process it started, then reads the
//    command's output until every process holding the pipe has closed it. So the command
//    is the depth-cloud executable itself (no shell or wrapper in between), and any process
//    it starts must stop with it: with jobs_per_task = 1 there is none; above 1 the CLI's
//    `--jobs` workers stop when their parent dies. See farm/README.md, "Cancelling".

// Default task type of the convert tasks (setting task_type). "misc" is one of the types a
// Worker runs by default (task_types: [blender, ffmpeg, file-management, misc] in
// internal/worker/config.go); a dedicated type keeps the tasks off Workers without depth-cloud.
const TASK_TYPE = "misc";

// author.Command's totalStepCount for `exec`: 0 = the command reports no steps itself; the
// Worker counts it as one step when it completes (internal/worker/task_executor.go).
const EXEC_STEP_COUNT = 0;

// Settings holding paths on the Workers; a Blender-relative "//" path is rejected in them.
const PATH_SETTINGS = ["depth_pattern", "camera_pattern", "output_pattern", "partials_dir", "depth_cloud_exe"];

const JOB_TYPE = {
    label: "Depth Cloud: Convert Sequence",
    description: "Convert a Blender depth EXR sequence into per-frame point clouds with the depth-cloud CLI, or fuse it into one cloud (chunks of partial voxel grids, then one exact merge)",
    settings: [
        { key: "depth_pattern", type: "string", subtype: "file_path", required: true,
          description: "Depth EXRs on shared storage, with a # run for the frame number, e.g. /shared/shot/depth_####.exr" },
        { key: "camera_pattern", type: "string", subtype: "file_path", required: false, default: "",
          description: "Camera sidecars with a # run, e.g. /shared/shot/camera_####.json. Empty: the camera_####.json next to each depth file" },
        { key: "output_pattern", type: "string", subtype: "file_path", required: true,
          description: "Point clouds to write, with a # run, e.g. /shared/shot/cloud/cloud_####.ply. With fuse: the one fused cloud, without #, e.g. /shared/shot/fused.ply" },
        { key: "frames", type: "string", required: true,
          eval: "f'{C.scene.frame_start}-{C.scene.frame_end}'",
          evalInfo: { showLinkButton: true, description: "Scene frame range" },
          description: "Frames to convert. Examples: '1-240', '1..240', '7', '1-10,20-30'" },
        { key: "chunk_size", type: "int32", default: 10, propargs: { min: 1 },
          description: "Number of frames per task" },
        { key: "jobs_per_task", type: "int32", default: 1, propargs: { min: 1 },
          description: "Parallel processes per task (depth-cloud convert --jobs). 1: one process, which a cancel stops outright; above 1, cancelling relies on the CLI's workers stopping with their parent" },
        { key: "stride", type: "int32", default: 1, propargs: { min: 1 },
          description: "Keep every K-th pixel in x and y (--stride)" },
        { key: "space", type: "string", choices: ["world", "camera"], default: "world",
          description: "Coordinates of the points (--space)" },
        { key: "depth_kind", type: "string", choices: ["auto", "planar", "distance"], default: "auto",
          description: "What the depth EXRs hold; auto: what Cycles writes for the camera (--depth-kind)" },
        { key: "format", type: "string", choices: ["ply", "npz"], default: "ply",
          description: "Output file format (--format)" },
        { key: "fuse", type: "bool", default: false,
          description: "Fuse all frames into one cloud of one point per voxel: chunk tasks write partial voxel grids (convert --fuse --voxel --partial), then one merge task, after all of them, combines them exactly (depth-cloud merge)" },
        { key: "voxel_size", type: "float", default: 0.0, propargs: { min: 0 },
          description: "With fuse: the voxel size in metres (--voxel), required > 0" },
        { key: "partials_dir", type: "string", subtype: "dir_path", required: false, default: "",
          description: "With fuse: folder on shared storage for the chunks' partial grids. Empty: NAME_partials beside the fused output NAME.ply" },
        { key: "depth_cloud_exe", type: "string", default: "depth-cloud",
          description: "The depth-cloud executable on the Workers: a name on their PATH, an absolute path, or a Manager variable like {depth_cloud}. Not a wrapper that starts it as a child: a cancel kills only this process" },
        { key: "task_type", type: "string", default: TASK_TYPE,
          description: "Task type of the tasks. misc: any Worker with default settings takes them. A dedicated type such as depth-cloud: only Workers that list it in task_types" },
    ],
};

// "1-240", "1..240", "7", "1-10, 20..30" -> sorted, merged, disjoint [[first, last], ...].
// A range is FIRST-LAST or, as in Blender and Flamenco's frameChunker, FIRST..LAST. Frames are
// non-negative integers; spaces around numbers and separators are allowed (not inside a
// number); anything else throws an Error.
function parseFrameSpec(spec) {
    if (typeof spec === "number" && Number.isInteger(spec) && spec >= 0) {
        spec = String(spec);
    }
    if (typeof spec !== "string") {
        throw new Error(`frames: expected a string like "1-240", "1..240" or "1-10,20-30", got ${JSON.stringify(spec)}`);
    }
    if (spec.trim() === "") {
        throw new Error(`frames: empty frame range; expected something like "1-240", "1..240" or "1-10,20-30"`);
    }
    const ranges = [];
    for (const rawPart of spec.split(",")) {
        const part = rawPart.trim();
        const match = /^(\d+)(?:\s*(?:-|\.\.)\s*(\d+))?$/.exec(part);
        if (!match) {
            throw new Error(`frames "${spec}": bad range "${part}"; expected FIRST-LAST, FIRST..LAST or a single frame, e.g. "1-240,300"`);
        }
        const first = Number(match[1]);
        const last = match[2] === undefined ? first : Number(match[2]);
        if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last)) {
            throw new Error(`frames "${spec}": frame number too large in "${part}"`);
        }
        if (last < first) {
            throw new Error(`frames "${spec}": range "${part}" ends before it starts`);
        }
        ranges.push([first, last]);
    }
    ranges.sort((a, b) => a[0] - b[0]);
    const merged = [];
    for (const range of ranges) {
        const prev = merged[merged.length - 1];
        if (prev && range[0] <= prev[1] + 1) {
            prev[1] = Math.max(prev[1], range[1]);  // overlapping or adjacent: one range
        } else {
            merged.push([range[0], range[1]]);
        }
    }
    return merged;
}

// Split each contiguous range into chunks of at most chunkSize frames; chunks never span a
// gap. Returns strings for `--frames`: "1-10", "11-20", ..., or "7" for a one-frame chunk.
function chunkFrames(spec, chunkSize) {
    const size = positiveInt(chunkSize, "chunk_size");
    const chunks = [];
    for (const [first, last] of parseFrameSpec(spec)) {
        for (let start = first; start <= last; start += size) {
            const end = Math.min(start + size - 1, last);
            chunks.push(start === end ? `${start}` : `${start}-${end}`);
        }
    }
    return chunks;
}

function positiveInt(value, key) {
    const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    if (typeof number !== "number" || !Number.isInteger(number) || number < 1) {
        throw new Error(`${key}: expected a whole number >= 1, got ${JSON.stringify(value)}`);
    }
    return number;
}

function nonNegativeNumber(value, key) {
    const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    if (typeof number !== "number" || !Number.isFinite(number) || number < 0) {
        throw new Error(`${key}: expected a number >= 0, got ${JSON.stringify(value)}`);
    }
    return number;
}

// JSON true/false; also the strings "true"/"false" of a hand-written submission.
function boolValue(value, key) {
    if (value === true || value === "true") return true;
    if (value === false || value === "false") return false;
    throw new Error(`${key}: expected true or false, got ${JSON.stringify(value)}`);
}

// The job's settings with JOB_TYPE defaults for missing ones, validated.
function resolveSettings(raw) {
    const settings = {};
    for (const def of JOB_TYPE.settings) {
        let value = raw ? raw[def.key] : undefined;
        if (value === undefined || value === null) {
            value = def.default;
        }
        if (def.required && (value === undefined || value === null || String(value).trim() === "")) {
            throw new Error(`${def.key}: this setting is required (${def.description})`);
        }
        if (def.choices && def.choices.indexOf(value) < 0) {
            throw new Error(`${def.key}: expected one of ${def.choices.join(", ")}, got ${JSON.stringify(value)}`);
        }
        if (def.type === "int32") {
            value = positiveInt(value, def.key);
        } else if (def.type === "float") {
            value = nonNegativeNumber(value, def.key);
        } else if (def.type === "bool") {
            value = boolValue(value, def.key);
        }
        settings[def.key] = value;
    }
    for (const key of PATH_SETTINGS) {
        if (typeof settings[key] === "string" && /^\s*\/\//.test(settings[key])) {
            throw new Error(`${key}: "${settings[key]}" is a Blender-relative path (// means "next to the .blend file"), ` +
                "which the Workers cannot resolve: depth-cloud runs there without a .blend. Give the absolute path on " +
                "the shared storage (in Blender's file browser, untick Relative Path)");
        }
    }
    for (const key of settings.fuse ? ["depth_pattern"] : ["depth_pattern", "output_pattern"]) {
        if (settings[key].indexOf("#") < 0) {
            throw new Error(`${key}: "${settings[key]}" has no # run for the frame number (e.g. depth_####.exr)`);
        }
    }
    if (settings.fuse) {
        if (settings.output_pattern.indexOf("#") >= 0) {
            throw new Error(`output_pattern: "${settings.output_pattern}" has a # run, but a fuse job writes one ` +
                "fused cloud: give its file name, e.g. /shared/shot/fused.ply");
        }
        if (!(settings.voxel_size > 0)) {
            throw new Error("voxel_size: a fuse job needs a voxel size > 0 in metres (--voxel): its chunks are " +
                "partial voxel grids");
        }
        if (settings.space !== "world") {
            throw new Error(`space: a fuse job needs "world" (the frames' cameras differ), got "${settings.space}"`);
        }
    }
    const ext = /\.(ply|npz)$/i.exec(settings.output_pattern);
    if (ext && ext[1].toLowerCase() !== settings.format) {
        throw new Error(`output_pattern ends in .${ext[1]} but format is ${settings.format}`);
    }
    if (String(settings.depth_cloud_exe).trim() === "") {
        throw new Error("depth_cloud_exe: empty; use \"depth-cloud\" or the executable's path");
    }
    // Lower case only: the Manager lower-cases the task types a Worker signs on with and
    // stores them comma-joined, then schedules a task only if its type is among them.
    if (typeof settings.task_type !== "string" || !/^[a-z0-9][a-z0-9._-]*$/.test(settings.task_type)) {
        throw new Error(`task_type: expected a lower-case task type name like "misc" or "depth-cloud" ` +
            `(a-z, 0-9, ., _, -; Workers' task types are matched in lower case), got ${JSON.stringify(settings.task_type)}`);
    }
    return settings;
}

// Where a fuse job's chunks write their partial grids: partials_dir, else NAME_partials beside
// the fused output NAME.ext. Paths stay as given ("/" or "\\" as the output uses; Manager
// variables like {storage} pass through).
function partialsDir(settings) {
    const dir = String(settings.partials_dir || "").trim();
    if (dir !== "") {
        return dir.replace(/[\\/]+$/, "");
    }
    return settings.output_pattern.replace(/\.[^.\\/]*$/, "") + "_partials";
}

// The partial grid of one chunk ("11-20") of a fuse job.
function partialPath(settings, chunk) {
    const dir = partialsDir(settings);
    const sep = dir.indexOf("\\") >= 0 && dir.indexOf("/") < 0 ? "\\" : "/";
    return `${dir}${sep}partial_${chunk}.npz`;
}

// The `args` of a fuse job's chunk task: the chunk's exact voxel sums, a partial grid. No --jobs:
// fusion reads the frames one at a time.
function fuseArgs(settings, chunk) {
    const args = [
        "convert", settings.depth_pattern,
        "--frames", chunk,
        "-o", partialPath(settings, chunk),
        "--fuse", "--voxel", String(settings.voxel_size), "--partial",
    ];
    if (settings.camera_pattern && String(settings.camera_pattern).trim() !== "") {
        args.push("--camera", settings.camera_pattern);
    }
    args.push("--stride", String(settings.stride), "--space", settings.space, "--depth-kind", settings.depth_kind);
    return args;
}

// The `args` of a fuse job's merge task: every chunk's partial grid, in chunk order (the order
// does not change the result), into the fused output.
function mergeArgs(settings, chunks) {
    const args = ["merge"];
    for (const chunk of chunks) {
        args.push(partialPath(settings, chunk));
    }
    args.push("-o", settings.output_pattern, "--format", settings.format);
    return args;
}

// The `args` of the exec command for one chunk ("11-20").
function convertArgs(settings, chunk) {
    const args = [
        "convert", settings.depth_pattern,
        "--frames", chunk,
        "--jobs", String(settings.jobs_per_task),
        "-o", settings.output_pattern,
    ];
    if (settings.camera_pattern && String(settings.camera_pattern).trim() !== "") {
        args.push("--camera", settings.camera_pattern);
    }
    args.push(
        "--stride", String(settings.stride),
        "--space", settings.space,
        "--depth-kind", settings.depth_kind,
        "--format", settings.format,
    );
    return args;
}

function compileJob(job) {
    const settings = resolveSettings(job.settings);
    const chunks = chunkFrames(settings.frames, settings.chunk_size);

    // Record the values actually used, so the Manager's web interface shows them.
    for (const key of Object.keys(settings)) {
        job.settings[key] = settings[key];
    }

    const chunkTasks = [];
    for (const chunk of chunks) {
        const task = author.Task(`${settings.fuse ? "fuse" : "convert"}-${chunk}`, settings.task_type);
        // The exe itself is what the Worker starts and, on a cancel, kills: no shell around it.
        task.addCommand(author.Command("exec", {
            exe: settings.depth_cloud_exe,
            args: settings.fuse ? fuseArgs(settings, chunk) : convertArgs(settings, chunk),
        }, EXEC_STEP_COUNT));
        job.addTask(task);
        chunkTasks.push(task);
    }
    if (settings.fuse) {
        // One merge, once every chunk's partial grid is written (as Flamenco's own
        // simple_blender_render.js makes its video task depend on the render tasks).
        const merge = author.Task("merge", settings.task_type);
        merge.addCommand(author.Command("exec", {
            exe: settings.depth_cloud_exe,
            args: mergeArgs(settings, chunks),
        }, EXEC_STEP_COUNT));
        for (const task of chunkTasks) {
            merge.addDependency(task);
        }
        job.addTask(merge);
    }
    if (typeof print === "function") {
        print(`depth-cloud-convert: ${chunks.length} task(s)${settings.fuse ? " and a merge" : ""} for frames ${settings.frames}`);
    }
}

// For Node's test runner; Flamenco's goja runtime has no `module`, so this is skipped there.
if (typeof module !== "undefined" && module.exports) {
    module.exports = {
        JOB_TYPE, TASK_TYPE, EXEC_STEP_COUNT, PATH_SETTINGS,
        compileJob, parseFrameSpec, chunkFrames, resolveSettings, convertArgs, fuseArgs, mergeArgs, partialPath,
    };
}
