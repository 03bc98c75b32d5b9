using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Shoal.Agent.Executors.Process;

namespace Shoal.Bench;

/// <summary>
/// <c>side-by-side</c>: the same docker CLI scenario against a local Docker swarm (Debian's <c>dockerd</c>, single
/// node, started here with its own data and exec roots and socket) and against a single-node Shoal swarm
/// (<see cref="LocalSwarm"/>, one manager that runs the tasks), timed as the CLI sees it: create N replicas
/// (foreground, so the CLI's own convergence wait is timed), scale to M (foreground), SIGKILL of one task's process
/// until the service is at M running again, remove until every task process is gone. Prints one row per side and
/// repetition, then the medians of both sides and the ratio Shoal / Docker. Everything started here (dockerd, its
/// containerd, the Shoal agent, task processes, bridges dockerd made) is gone when it returns, also after a failure.
/// </summary>
internal static class SideBySide
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(180);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    /// <summary>How many steps one repetition times (see <see cref="Steps"/>).</summary>
    private const int StepCount = 8;

    /// <summary>The steps of one repetition, in the order they are timed and printed.</summary>
    private static string[] Steps(int replicas, int scaleTo) =>
    [
        $"create {replicas}: all running (CLI progress)",
        $"create {replicas}: CLI returned (after its 5 s stability check)",
        $"scale to {scaleTo}: all running (CLI progress)",
        $"scale to {scaleTo}: CLI returned (after its 5 s stability check)",
        "kill -9 of one task's process -> `service ps` no longer shows it running",
        $"kill -9 of one task's process -> {scaleTo} running again (service ps / ls)",
        "service rm: CLI returned",
        "service rm: every task process gone",
    ];

    /// <summary>
    /// Runs the scenario <paramref name="repetitions"/> times on each side; returns the exit code.
    /// <paramref name="restartDelay"/> (a docker CLI duration such as <c>0s</c>) is passed to <c>service create
    /// --restart-delay</c> on both sides; null keeps the default (5 s on both).
    /// </summary>
    public static async Task<int> RunAsync(int replicas, int scaleTo, int repetitions, string? restartDelay, bool verbose)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(scaleTo, replicas);
        ArgumentOutOfRangeException.ThrowIfLessThan(repetitions, 1);
        if (Prerequisites.Check() is { } missing)
        {
            Console.Error.WriteLine(missing);
            return 2;
        }

        Console.WriteLine($"docker CLI {Prerequisites.Cli} against each side; a service of {replicas} replicas `--init sleep 3600` (image: a local busybox-static import, recorded only by Shoal), scaled to {scaleTo}; restart policy: any, delay {restartDelay ?? "5s (default)"} on both sides; CLI polls every {Poll.TotalMilliseconds:0} ms; {repetitions} repetition(s) per side");
        Console.WriteLine("Both sides single node: dockerd in swarm mode (manager runs the tasks) vs 1 Shoal manager (process executor, runs the tasks).");
        var steps = Steps(replicas, scaleTo);
        Console.WriteLine($"| side | rep | {string.Join(" | ", steps.Select(s => s + " ms"))} |");
        Console.WriteLine($"|---|---:|{string.Concat(Enumerable.Repeat("---:|", StepCount))}");

        var docker = new List<double[]>();
        var shoal = new List<double[]>();
        string image;
        await using (var dockerd = await LocalDockerd.StartAsync(verbose))
        {
            image = dockerd.ImageId;
            var cli = new Cli(dockerd.Socket, Path.Combine(dockerd.Root, "cli"), verbose);
            try
            {
                for (var rep = 1; rep <= repetitions; rep++)
                {
                    var row = await ScenarioAsync(cli, image, $"sbs{rep}", replicas, scaleTo, restartDelay);
                    docker.Add(row);
                    Console.WriteLine($"| Docker {dockerd.Version} | {rep} | {Row(row)} |");
                }
            }
            catch
            {
                Console.Error.WriteLine($"the Docker side failed; the last lines of dockerd's log (deleted with {dockerd.Root}):\n{dockerd.LogTail()}");
                throw;
            }
        }

        var swarm = await LocalSwarm.StartAsync(1, 0, TimeSpan.FromSeconds(5), new LocalSwarmOptions { KeepRoot = true, Log = verbose ? Console.Error.WriteLine : null });
        try
        {
            var cli = new Cli(swarm.Nodes[0].ApiSocket, Path.Combine(swarm.Root, "cli"), verbose);
            for (var rep = 1; rep <= repetitions; rep++)
            {
                var row = await ScenarioAsync(cli, image, $"sbs{rep}", replicas, scaleTo, restartDelay);
                shoal.Add(row);
                Console.WriteLine($"| Shoal | {rep} | {Row(row)} |");
            }
        }
        finally
        {
            await ServiceScenarios.StopAsync(swarm);
        }

        Console.WriteLine();
        Console.WriteLine($"Medians over {repetitions} repetition(s), ms ({replicas} replicas, scaled to {scaleTo}):");
        Console.WriteLine("| step | Docker swarm | Shoal | Shoal / Docker |");
        Console.WriteLine("|---|---:|---:|---:|");
        for (var i = 0; i < StepCount; i++)
        {
            var d = ServiceScenarios.Median([.. docker.Select(r => r[i])]);
            var s = ServiceScenarios.Median([.. shoal.Select(r => r[i])]);
            var ratio = d > 0 ? (s / d).ToString("0.00", CultureInfo.InvariantCulture) : "-";
            Console.WriteLine($"| {steps[i]} | {d:0} | {s:0} | {ratio} |");
        }

        return 0;
    }

    /// <summary>One repetition against one side; the times of <see cref="Steps"/> in milliseconds.</summary>
    private static async Task<double[]> ScenarioAsync(Cli cli, string image, string name, int replicas, int scaleTo, string? restartDelay)
    {
        var times = new double[StepCount];

        // Create, foreground: the CLI follows the tasks until all run, then checks for 5 s that they stay running.
        string[] delay = restartDelay is null ? [] : ["--restart-delay", restartDelay];
        (times[0], times[1]) = await ForegroundAsync(cli, replicas, ["service", "create", "--name", name, "--replicas", replicas.ToString(CultureInfo.InvariantCulture), "--init", .. delay, "--no-resolve-image", image, "sleep", "3600"]);
        (times[2], times[3]) = await ForegroundAsync(cli, scaleTo, ["service", "scale", $"{name}={scaleTo.ToString(CultureInfo.InvariantCulture)}"]);

        // Kill -9 of one task's process (its ContainerStatus.PID, as both sides report it), until `service ps` shows
        // M running tasks without the killed one and `service ls` shows M/M.
        var running = await RunningTasksAsync(cli, name);
        if (running.Count != scaleTo)
        {
            throw new InvalidOperationException($"{name}: `docker service ps` shows {running.Count} running tasks after the scale to {scaleTo} converged");
        }

        var victim = running[0];
        var pid = (await PidsAsync(cli, [victim]))[0];
        var killed = Stopwatch.GetTimestamp();
        Process.GetProcessById(pid.Pid).Kill();
        var last = "nothing yet";
        double? failureSeen = null;
        await WaitAsync(
            async () =>
            {
                var now = await RunningTasksAsync(cli, name);
                if (failureSeen is null && !now.Contains(victim))
                {
                    failureSeen = Stopwatch.GetElapsedTime(killed).TotalMilliseconds;
                }

                last = $"{now.Count} running, killed task {(now.Contains(victim) ? "still listed running" : "gone")}";
                if (now.Count != scaleTo || now.Contains(victim))
                {
                    return false;
                }

                var replicasColumn = (await cli.CheckedAsync(["service", "ls", "--filter", $"name={name}", "--format", "{{.Name}} {{.Replicas}}"])).Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(l => l.StartsWith(name + " ", StringComparison.Ordinal));
                last += $"; service ls: {replicasColumn}";
                return replicasColumn == $"{name} {scaleTo}/{scaleTo}";
            },
            $"{name} back at {scaleTo} running after kill -9 of task {victim} (pid {pid.Pid})",
            () => "last seen: " + last);
        times[5] = Stopwatch.GetElapsedTime(killed).TotalMilliseconds;
        times[4] = failureSeen!.Value;

        // Remove: the CLI returns at once; then every task process ends (SIGTERM; `--init` makes it end a container).
        var pids = await PidsAsync(cli, await RunningTasksAsync(cli, name));
        var removing = Stopwatch.GetTimestamp();
        await cli.CheckedAsync(["service", "rm", name]);
        times[6] = Stopwatch.GetElapsedTime(removing).TotalMilliseconds;
        List<(int Pid, ulong? Start)> alive = [];
        await WaitAsync(
            () =>
            {
                alive = [.. pids.Where(p => LeftoverTasks.IsAlive(p.Pid, p.Start))];
                return Task.FromResult(alive.Count == 0);
            },
            $"the {pids.Count} task processes of {name} gone after `docker service rm`",
            () => $"{alive.Count} still alive, e.g. pid {string.Join(", ", alive.Take(5).Select(p => p.Pid))}",
            TimeSpan.FromMilliseconds(20));
        times[7] = Stopwatch.GetElapsedTime(removing).TotalMilliseconds;
        return times;
    }

    /// <summary>
    /// Runs a foreground <c>docker service create|scale</c> and returns when its progress first said
    /// "overall progress: <paramref name="count"/> out of <paramref name="count"/> tasks" and when it exited, in ms.
    /// </summary>
    private static async Task<(double AllRunning, double Returned)> ForegroundAsync(Cli cli, int count, string[] arguments)
    {
        var done = $"overall progress: {count.ToString(CultureInfo.InvariantCulture)} out of {count.ToString(CultureInfo.InvariantCulture)} tasks";
        double? allRunning = null;
        var started = Stopwatch.GetTimestamp();
        var (exitCode, output, error) = await cli.RunAsync(arguments, line =>
        {
            if (allRunning is null && line.Contains(done, StringComparison.Ordinal))
            {
                allRunning = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        });
        var returned = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (exitCode != 0 || allRunning is null)
        {
            throw new InvalidOperationException($"docker {string.Join(' ', arguments)} exited with {exitCode}{(allRunning is null ? $" without printing \"{done}\"" : string.Empty)}: {Tail(error)} {Tail(output)}");
        }

        return (allRunning.Value, returned);
    }

    /// <summary>The full IDs of the service's tasks that <c>docker service ps</c> shows with desired and current state running.</summary>
    private static async Task<List<string>> RunningTasksAsync(Cli cli, string name)
    {
        var output = await cli.CheckedAsync(["service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "{{.ID}} {{.CurrentState}}", name]);
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', 3))
            .Where(f => f.Length >= 2 && f[1] == "Running")
            .Select(f => f[0])];
    }

    /// <summary>The task processes (<c>docker inspect --type task</c>: ContainerStatus.PID) with their start times.</summary>
    private static async Task<List<(int Pid, ulong? Start)>> PidsAsync(Cli cli, List<string> tasks)
    {
        var pids = new List<(int, ulong?)>();
        foreach (var chunk in tasks.Chunk(50))
        {
            var output = await cli.CheckedAsync(["inspect", "--type", "task", "--format", "{{.ID}} {{.Status.ContainerStatus.PID}}", .. chunk]);
            foreach (var fields in output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')))
            {
                if (fields.Length != 2 || !int.TryParse(fields[1], CultureInfo.InvariantCulture, out var pid) || pid <= 0)
                {
                    throw new InvalidOperationException($"task {fields[0]} reports no process ID (ContainerStatus.PID): `{string.Join(' ', fields)}`");
                }

                pids.Add((pid, StartTime(pid)));
            }
        }

        return pids;
    }

    /// <summary>Field 22 of <c>/proc/&lt;pid&gt;/stat</c> (start time in clock ticks), or null if the process is gone.</summary>
    private static ulong? StartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return ulong.Parse(fields[19], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what, Func<string> detail, TimeSpan? interval = null)
    {
        var started = Stopwatch.GetTimestamp();
        while (!await condition())
        {
            if (Stopwatch.GetElapsedTime(started) > Deadline)
            {
                throw new TimeoutException($"timed out after {Deadline.TotalSeconds:0} s waiting for {what}; {detail()}");
            }

            await Task.Delay(interval ?? Poll);
        }
    }

    private static string Row(double[] times) => string.Join(" | ", times.Select(t => t.ToString("0", CultureInfo.InvariantCulture)));

    private static string Tail(string text) => text.Length <= 600 ? text.Trim() : "…" + text[^600..].Trim();

    /// <summary>The docker CLI pointed at one side's socket, with a private config directory.</summary>
    private sealed class Cli(string socket, string configDirectory, bool verbose)
    {
        /// <summary>Runs the CLI; <paramref name="onLine"/> sees each stdout line as it comes.</summary>
        public async Task<(int ExitCode, string Output, string Error)> RunAsync(IEnumerable<string> arguments, Action<string>? onLine = null)
        {
            var start = new ProcessStartInfo(Prerequisites.Cli)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            start.Environment["DOCKER_HOST"] = "unix://" + socket;
            start.Environment["DOCKER_CONFIG"] = configDirectory;
            start.Environment.Remove("DOCKER_CONTEXT");
            start.Environment.Remove("DOCKER_API_VERSION");
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {Prerequisites.Cli}");
            var output = new StringBuilder();
            var gate = new Lock();
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is { } line)
                {
                    onLine?.Invoke(line);
                    lock (gate)
                    {
                        output.AppendLine(line);
                    }

                    if (verbose)
                    {
                        Console.Error.WriteLine($"  docker> {line}");
                    }
                }
            };
            process.BeginOutputReadLine();
            var error = process.StandardError.ReadToEndAsync();
            using var deadline = new CancellationTokenSource(Deadline);
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
                throw new TimeoutException($"docker {string.Join(' ', start.ArgumentList)} did not finish within {Deadline.TotalSeconds:0} s");
            }

            process.WaitForExit(); // flushes the asynchronous stdout reader
            var errorText = await error;
            lock (gate)
            {
                return (process.ExitCode, output.ToString(), errorText);
            }
        }

        /// <summary>Runs the CLI and returns its stdout; a non-zero exit throws with its stderr.</summary>
        public async Task<string> CheckedAsync(IEnumerable<string> arguments)
        {
            var list = arguments.ToList();
            var (exitCode, output, error) = await RunAsync(list);
            return exitCode == 0 ? output : throw new InvalidOperationException($"docker {string.Join(' ', list)} exited with {exitCode}: {Tail(error)}");
        }
    }

    /// <summary>What the bench needs on the machine, and how to get it.</summary>
    private static class Prerequisites
    {
        private const string Install = "apt-get update && apt-get install -y --no-install-recommends docker.io busybox-static";

        /// <summary>The docker CLI: the 28.x one in /usr/local/bin if there, else Debian's.</summary>
        public static string Cli { get; } = new[] { "/usr/local/bin/docker", "/usr/bin/docker" }.FirstOrDefault(File.Exists) ?? "docker";

        /// <summary>Debian's dockerd.</summary>
        public static string Dockerd { get; } = new[] { "/usr/sbin/dockerd", "/usr/bin/dockerd" }.FirstOrDefault(File.Exists) ?? "/usr/sbin/dockerd";

        /// <summary>A statically linked busybox (the image's only binary).</summary>
        public const string Busybox = "/bin/busybox";

        /// <summary>Null when everything is there; else what is missing and the command that installs it.</summary>
        public static string? Check()
        {
            var missing = new List<string>();
            if (!Environment.IsPrivilegedProcess)
            {
                return "side-by-side starts its own dockerd, which needs root: run the bench as root.";
            }

            if (!File.Exists(Cli))
            {
                missing.Add("the docker CLI (/usr/local/bin/docker or /usr/bin/docker)");
            }

            if (!File.Exists(Dockerd))
            {
                missing.Add("dockerd (Debian package docker.io)");
            }

            if (!File.Exists("/usr/bin/docker-init") && !File.Exists("/usr/sbin/docker-init"))
            {
                missing.Add("docker-init, for `--init` (Debian package tini, a dependency of docker.io)");
            }

            if (!IsStatic(Busybox))
            {
                missing.Add($"a statically linked {Busybox} (Debian package busybox-static), the image's only binary");
            }

            if (missing.Count > 0)
            {
                return $"side-by-side needs {string.Join("; ", missing)}. Install them with:\n  {Install}";
            }

            if (LocalDockerd.OtherDockerd() is { } other)
            {
                return $"another dockerd runs (pid {other}); side-by-side starts its own, which would share docker0 and docker_gwbridge with it. Stop that one or run the bench on another machine.";
            }

            return null;
        }

        /// <summary>Whether <paramref name="path"/> is a 64-bit ELF file without a program interpreter (PT_INTERP).</summary>
        private static bool IsStatic(string path)
        {
            try
            {
                var bytes = File.ReadAllBytes(path);
                if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F' || bytes[4] != 2)
                {
                    return false;
                }

                var programHeaders = BitConverter.ToInt64(bytes, 0x20);
                var size = BitConverter.ToUInt16(bytes, 0x36);
                var count = BitConverter.ToUInt16(bytes, 0x38);
                for (var i = 0; i < count; i++)
                {
                    var offset = programHeaders + (i * size);
                    if (offset + 4 > bytes.Length)
                    {
                        return false;
                    }

                    if (BitConverter.ToUInt32(bytes, (int)offset) == 3)
                    {
                        return false; // PT_INTERP: dynamically linked
                    }
                }

                return true;
            }
            catch (IOException)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// A dockerd started here, in swarm mode on 127.0.0.1, with its data root, exec root (its containerd's too),
    /// socket and pid file under one temporary directory, <c>--iptables=false --ip-forward=false</c> (the tasks need no
    /// network; nothing on the host's firewall or sysctls changes), and a busybox image imported from the host's
    /// static busybox. Disposing leaves the swarm, removes every container, stops dockerd (SIGTERM, then SIGKILL after
    /// 30 s), kills whatever process still names the directory, unmounts what is mounted under it, deletes the
    /// bridges it created and the directory.
    /// </summary>
    private sealed class LocalDockerd : IAsyncDisposable
    {
        private static readonly string[] Bridges = ["docker0", "docker_gwbridge"];
        private readonly bool _verbose;
        private readonly List<string> _bridgesBefore;
        private Process? _process;
        private readonly Lock _gate = new();
        private PosixSignalRegistration[] _signals = [];
        private Task? _cleanup;

        private LocalDockerd(string root, bool verbose)
        {
            Root = root;
            _verbose = verbose;
            _bridgesBefore = [.. Bridges.Where(b => Directory.Exists($"/sys/class/net/{b}"))];
        }

        /// <summary>The directory everything of this dockerd is under.</summary>
        public string Root { get; }

        /// <summary>Its API socket.</summary>
        public string Socket => Path.Combine(Root, "docker.sock");

        /// <summary>The imported image's ID (<c>sha256:…</c>): with <c>--no-resolve-image</c> no pull is attempted.</summary>
        public string ImageId { get; private set; } = string.Empty;

        /// <summary>The daemon's version.</summary>
        public string Version { get; private set; } = string.Empty;

        private string LogPath => Path.Combine(Root, "dockerd.log");

        /// <summary>The pid of a dockerd this bench did not start, if one runs.</summary>
        public static int? OtherDockerd()
        {
            foreach (var directory in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(directory), CultureInfo.InvariantCulture, out var pid))
                {
                    try
                    {
                        if (File.ReadAllText(Path.Combine(directory, "comm")).Trim() == "dockerd")
                        {
                            return pid;
                        }
                    }
                    catch (IOException)
                    {
                    }
                }
            }

            return null;
        }

        /// <summary>Starts dockerd, waits for its API, imports the image and initialises the swarm.</summary>
        public static async Task<LocalDockerd> StartAsync(bool verbose)
        {
            var root = Path.Combine("/tmp", "shoal-sbs-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(root);
            var dockerd = new LocalDockerd(root, verbose);

            // Ctrl-C or SIGTERM of the bench: clean up before the runtime ends the process (dockerd, in our process
            // group, gets the terminal's SIGINT too and stops its containers). The main flow, failing meanwhile,
            // awaits the same clean-up in its DisposeAsync.
            dockerd._signals =
            [
                PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => dockerd.DisposeAsync().AsTask().GetAwaiter().GetResult()),
                PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => dockerd.DisposeAsync().AsTask().GetAwaiter().GetResult()),
            ];
            try
            {
                await dockerd.StartCoreAsync();
                return dockerd;
            }
            catch
            {
                await dockerd.DisposeAsync();
                throw;
            }
        }

        private async Task StartCoreAsync()
        {
            // Through sh so that dockerd's output goes to a file and the pid is dockerd's own.
            var command = $"exec {Prerequisites.Dockerd} --data-root {Root}/data --exec-root {Root}/exec -H unix://{Socket} --pidfile {Root}/dockerd.pid --storage-driver overlay2 --iptables=false --ip-forward=false >{LogPath} 2>&1";
            var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(command);
            _process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {Prerequisites.Dockerd}");
            var cli = new Cli(Socket, Path.Combine(Root, "cli"), _verbose);
            var started = Stopwatch.GetTimestamp();
            while (true)
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"dockerd exited with {_process.ExitCode} while starting; its log ({LogPath}) ends with:\n{LogTail()}");
                }

                if (File.Exists(Socket) && await cli.RunAsync(["version", "--format", "{{.Server.Version}}"]) is (0, var version, _))
                {
                    Version = version.Trim();
                    break;
                }

                if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(60))
                {
                    throw new TimeoutException($"dockerd did not serve {Socket} within 60 s; its log ends with:\n{LogTail()}");
                }

                await Task.Delay(200);
            }

            // The image: the host's static busybox and its applet links, imported (no registry is reachable).
            var rootfs = Path.Combine(Root, "rootfs");
            foreach (var directory in new[] { "bin", "proc", "sys", "dev", "tmp", "etc" })
            {
                Directory.CreateDirectory(Path.Combine(rootfs, directory));
            }

            File.Copy(Prerequisites.Busybox, Path.Combine(rootfs, "bin", "busybox"));
            foreach (var applet in new[] { "sh", "sleep", "true", "ls", "cat", "ps" })
            {
                File.CreateSymbolicLink(Path.Combine(rootfs, "bin", applet), "busybox");
            }

            await File.WriteAllTextAsync(Path.Combine(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
            var tar = Path.Combine(Root, "rootfs.tar");
            await System.Formats.Tar.TarFile.CreateFromDirectoryAsync(rootfs, tar, includeBaseDirectory: false);
            await cli.CheckedAsync(["import", "-c", "ENV PATH=/bin", "-c", "CMD [\"sh\"]", tar, "local/shoal-sbs-busybox:1"]);
            ImageId = (await cli.CheckedAsync(["image", "inspect", "--format", "{{.Id}}", "local/shoal-sbs-busybox:1"])).Trim();
            await cli.CheckedAsync(["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        }

        /// <summary>The last 20 lines of dockerd's log.</summary>
        public string LogTail()
        {
            try
            {
                return string.Join('\n', File.ReadLines(LogPath).TakeLast(20));
            }
            catch (IOException)
            {
                return "(no log)";
            }
        }

        /// <inheritdoc/>
        public ValueTask DisposeAsync()
        {
            lock (_gate)
            {
                _cleanup ??= Task.Run(CleanUpAsync);
                return new ValueTask(_cleanup);
            }
        }

        private async Task CleanUpAsync()
        {
            if (_process is { HasExited: false } process)
            {
                var cli = new Cli(Socket, Path.Combine(Root, "cli"), _verbose);
                await Quietly(() => cli.RunAsync(["swarm", "leave", "--force"]));
                if (await Quietly(() => cli.RunAsync(["ps", "-aq"])) is (0, var ids, _) && ids.Split('\n', StringSplitOptions.RemoveEmptyEntries) is { Length: > 0 } containers)
                {
                    await Quietly(() => cli.RunAsync(["rm", "-f", .. containers]));
                }

                Signal(process.Id, 15);
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await process.WaitForExitAsync(grace.Token);
                }
                catch (OperationCanceledException)
                {
                    Console.Error.WriteLine($"dockerd (pid {process.Id}) did not stop within 30 s of SIGTERM; killing it");
                    process.Kill();
                    await process.WaitForExitAsync();
                }
            }

            _process?.Dispose();

            // Its containerd and shims, should they outlive it: every process whose command line names our directory.
            foreach (var pid in ProcessesNaming(Root))
            {
                Console.Error.WriteLine($"killing pid {pid}, left behind by the bench's dockerd");
                Signal(pid, 9);
            }

            // Mounts under the directory (netns files, overlay layers), innermost first.
            foreach (var mount in MountsUnder(Root).OrderByDescending(m => m.Length))
            {
                await RunQuietAsync("umount", "-l", mount);
            }

            foreach (var bridge in Bridges.Except(_bridgesBefore).Where(b => Directory.Exists($"/sys/class/net/{b}")))
            {
                await RunQuietAsync("ip", "link", "del", bridge);
            }

            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"could not delete {Root}: {e.Message}");
            }

            foreach (var signal in _signals)
            {
                signal.Dispose();
            }
        }

        private static async Task<T?> Quietly<T>(Func<Task<T>> call)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException)
            {
                return default;
            }
        }

        private static async Task RunQuietAsync(string program, params string[] arguments)
        {
            var start = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start);
            if (process is not null)
            {
                var error = await process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync();
                if (process.ExitCode != 0)
                {
                    Console.Error.WriteLine($"{program} {string.Join(' ', arguments)}: {error.Trim()}");
                }
            }
        }

        private static void Signal(int pid, int signal)
        {
            try
            {
                using var process = Process.Start(new ProcessStartInfo("kill") { UseShellExecute = false, ArgumentList = { "-" + signal.ToString(CultureInfo.InvariantCulture), pid.ToString(CultureInfo.InvariantCulture) } });
                process?.WaitForExit();
            }
            catch (System.ComponentModel.Win32Exception)
            {
            }
        }

        private static List<int> ProcessesNaming(string directory)
        {
            var found = new List<int>();
            foreach (var entry in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(entry), CultureInfo.InvariantCulture, out var pid) && pid != Environment.ProcessId)
                {
                    try
                    {
                        if (File.ReadAllText(Path.Combine(entry, "cmdline")).Contains(directory, StringComparison.Ordinal))
                        {
                            found.Add(pid);
                        }
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                    }
                }
            }

            return found;
        }

        private static List<string> MountsUnder(string directory) =>
            [.. File.ReadLines("/proc/self/mountinfo")
                .Select(l => l.Split(' '))
                .Where(f => f.Length > 4)
                .Select(f => f[4].Replace("\\040", " ", StringComparison.Ordinal))
                .Where(m => m == directory || m.StartsWith(directory + "/", StringComparison.Ordinal))];
    }
}
