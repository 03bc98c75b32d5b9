using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Shoal.Agent.Executors.Process;
using Shoal.Cli.LocalApi;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Commands;

/// <summary>
/// <c>shoal demo</c>: a local swarm of real <c>shoal agent</c> processes on loopback, in a temporary directory. It
/// founds the swarm, joins managers and workers, creates a service of 6 replicas of a tiny HTTP responder (shoal's own
/// <c>demo responder</c>) and shows it converge, scales it to 10, rolls a new spec out to them 2 at a time (showing the
/// fewest replicas running meanwhile and what each answers afterwards), kills the worker with the most replicas with SIGKILL
/// and shows them rescheduled, kills the leader and shows a new one elected with the service still at 10, and tears
/// everything down. Each step is narrated with the time it took.
/// </summary>
internal static class DemoCommand
{
    private static readonly Option<int> Managers = new("--managers")
    {
        Description = "How many managers (an odd number keeps a quorum through one failure)",
        DefaultValueFactory = _ => 3,
    };

    private static readonly Option<int> Workers = new("--workers")
    {
        Description = "How many workers",
        DefaultValueFactory = _ => 3,
    };

    private static readonly Option<bool> Keep = new("--keep")
    {
        Description = "Leave the nodes running and their data in place at the end (stop them with Ctrl-C)",
    };

    public static Command Create(CliEnvironment environment)
    {
        var command = new Command("demo", "Run a local demo swarm: managers and workers as real processes on 127.0.0.1, a service deployed, scaled and updated replica by replica, a worker and the leader killed with SIGKILL, and the swarm healing itself");
        command.Options.Add(Managers);
        command.Options.Add(Workers);
        command.Options.Add(Keep);
        command.Subcommands.Add(DemoResponder.Create(environment));
        Managers.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 7)
            {
                r.AddError("--managers must be between 1 and 7");
            }
        });
        Workers.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 20)
            {
                r.AddError("--workers must be between 1 and 20");
            }
        });
        command.SetAction(async (parse, cancellationToken) =>
        {
            var demo = new Demo(environment, parse.GetValue(Managers), parse.GetValue(Workers), parse.GetValue(Keep));
            try
            {
                return await demo.RunAsync(cancellationToken);
            }
            catch (Exception e) when (e is DemoException or LocalApiException or CommandException)
            {
                await environment.Error.WriteLineAsync($"demo failed: {ClientCommand.Describe(e)}");
                await demo.PrintLogTailsAsync();
                return 1;
            }
            finally
            {
                await demo.DisposeAsync();
            }
        });
        return command;
    }

    private sealed class DemoException(string message) : Exception(message);

    /// <summary>One run of the demo: its processes, their clients, and the narration.</summary>
    private sealed class Demo(CliEnvironment environment, int managerCount, int workerCount, bool keep) : IAsyncDisposable
    {
        private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(1);
        private readonly string _root = Path.Combine(Path.GetTempPath(), "shoal-demo-" + Guid.NewGuid().ToString("N")[..6]);
        private readonly List<DemoNode> _nodes = [];
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public async Task<int> RunAsync(CancellationToken cancellationToken)
        {
            Say($"Starting {managerCount} managers and {workerCount} workers as `shoal agent` processes on 127.0.0.1 (data in {_root})");
            Directory.CreateDirectory(_root);
            for (var i = 1; i <= managerCount; i++)
            {
                _nodes.Add(DemoNode.Start(_root, $"manager-{i}", isManager: true));
            }

            for (var i = 1; i <= workerCount; i++)
            {
                _nodes.Add(DemoNode.Start(_root, $"worker-{i}", isManager: false));
            }

            foreach (var node in _nodes)
            {
                await node.WaitForApiAsync(cancellationToken);
            }

            var first = _nodes[0];
            var step = Stopwatch.StartNew();
            await first.Client.SwarmInitAsync(
                new SwarmInitRequest
                {
                    ListenAddr = first.Address,
                    AdvertiseAddr = first.Address,
                    Spec = new Spec { Dispatcher = new DispatcherConfig { HeartbeatPeriod = (long)Heartbeat.TotalMilliseconds * 1_000_000 } },
                },
                cancellationToken);
            Say($"{first.Name} founded the swarm in {Ms(step)} (heartbeat period {Heartbeat.TotalSeconds:0} s, so a dead node is DOWN after about 3 s)");

            var tokens = (await first.Client.SwarmInspectAsync(cancellationToken)).JoinTokens;
            step.Restart();
            foreach (var node in _nodes.Skip(1))
            {
                await node.Client.SwarmJoinAsync(
                    new SwarmJoinRequest { ListenAddr = node.Address, AdvertiseAddr = node.Address, RemoteAddrs = [first.Address], JoinToken = node.IsManager ? tokens.Manager : tokens.Worker },
                    cancellationToken);
            }

            await WaitForNodesAsync(first, nodes => nodes.Count == _nodes.Count && nodes.All(n => n.Status.State == NodeStates.Ready), "every node READY", cancellationToken);
            Say($"{_nodes.Count - 1} nodes joined with their tokens and are READY in {Ms(step)}:");
            await ShowNodesAsync(first, cancellationToken);

            var through = first;
            Say($"Creating the service `{ServiceName}`: 6 replicas of a tiny HTTP responder that ships with shoal (`shoal demo responder`), run as host processes on the workers");
            step.Restart();
            await ShoalAsync(through, ["service", "create", "--name", ServiceName, "--replicas", "6", "--constraint", "node.role==worker",
                "--stop-grace-period", "2s", "--restart-delay", "1s", "shoal/demo-responder", .. ResponderCommand()], cancellationToken);
            await WaitForRunningAsync(through, 6, cancellationToken);
            Say($"6 replicas RUNNING {Ms(step)} after the create call, spread over the workers:");
            await ShoalAsync(through, ["service", "ps", ServiceName], cancellationToken);
            Say("What they logged so far (`shoal service logs`, gathered from the workers by the leader):");
            await ShoalAsync(through, ["service", "logs", ServiceName], cancellationToken);

            Say($"Scaling `{ServiceName}` to 10 replicas");
            step.Restart();
            await ShoalAsync(through, ["service", "scale", "--detach", $"{ServiceName}=10"], cancellationToken);
            await WaitForRunningAsync(through, 10, cancellationToken);
            Say($"10 replicas RUNNING {Ms(step)} after the scale call; the first 6 kept running");
            await ShoalAsync(through, ["service", "ls"], cancellationToken);

            await RollingUpdateAsync(through, cancellationToken);

            var tasks = await RunningTasksAsync(through, cancellationToken);
            var nodeNames = (await through.Client.NodeListAsync(new ListFilters(), cancellationToken)).ToDictionary(n => n.ID, n => n.Description.Hostname, StringComparer.Ordinal);
            var busiest = tasks.GroupBy(t => t.NodeID ?? string.Empty).OrderByDescending(g => g.Count()).First();
            var victim = _nodes.Single(n => n.Name == nodeNames.GetValueOrDefault(busiest.Key));
            var moved = busiest.Select(t => t.ID).ToHashSet(StringComparer.Ordinal);
            Say($"Killing {victim.Name}, which runs {moved.Count} of the replicas, with SIGKILL");
            step.Restart();
            victim.Kill();
            await WaitForNodesAsync(first, nodes => StateOf(nodes, victim) == NodeStates.Down, $"{victim.Name} DOWN", cancellationToken);
            Say($"The leader marked {victim.Name} DOWN {Ms(step)} after the kill (3 missed heartbeats); its replicas are being replaced on the other workers");
            var victimId = busiest.Key;
            await WaitForRunningAsync(through, 10, cancellationToken, t => t.NodeID != victimId);
            Say($"10 replicas RUNNING again on the live workers {Ms(step)} after the kill:");
            await ShoalAsync(through, ["service", "ps", "--filter", "desired-state=running", ServiceName], cancellationToken);

            if (managerCount >= 3)
            {
                var leader = await LeaderAsync(first, cancellationToken);
                var survivor = _nodes.First(n => n.IsManager && n != leader && n.IsRunning);
                Say($"Killing the leader, {leader.Name}, with SIGKILL");
                step.Restart();
                var killed = DateTimeOffset.UtcNow;
                leader.Kill();
                var nodes = await WaitForNodesAsync(
                    survivor,
                    list => list.Any(n => n.ManagerStatus?.Leader == true && n.Description.Hostname != leader.Name),
                    "a new leader",
                    cancellationToken);
                var newLeader = nodes.Single(n => n.ManagerStatus?.Leader == true).Description.Hostname;
                Say($"{newLeader} was elected leader {Ms(step)} after the kill; every node is UNKNOWN until its session reaches the new leader");
                through = survivor;
                var alive = _nodes.Where(n => n.IsRunning).ToList();
                await WaitForNodesAsync(
                    survivor,
                    list => alive.All(a => list.FirstOrDefault(n => n.Description.Hostname == a.Name) is { Status.State: NodeStates.Ready } n && n.UpdatedAt > killed),
                    "every live node READY through the new leader",
                    cancellationToken);
                await WaitForRunningAsync(through, 10, cancellationToken, t => t.NodeID != victimId);
                Say($"Every live node re-registered with the new leader {Ms(step)} after the kill, and the replicas never stopped:");
                await ShoalAsync(through, ["node", "ls"], cancellationToken);
                await ShoalAsync(through, ["service", "ls"], cancellationToken);
            }

            if (keep)
            {
                Say($"The nodes keep running (--keep). Talk to one with: shoal -H unix://{through.SocketPath} node ls. Ctrl-C stops them.");
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                }
            }

            Say($"Removing `{ServiceName}`: its replicas are stopped with SIGTERM");
            step.Restart();
            await ShoalAsync(through, ["service", "rm", ServiceName], cancellationToken);
            await WaitForAsync(through, async ct => (await through.Client.TaskListAsync(new ListFilters(), ct)).Count == 0, "every task of the service gone", cancellationToken);
            Say($"Every replica stopped and removed in {Ms(step)}");
            Say($"Demo complete in {_clock.Elapsed.TotalSeconds:0.0} s; stopping the nodes");
            return 0;
        }

        private const string ServiceName = "hello";

        /// <summary>The replica count from the scale step on.</summary>
        private const int Replicas = 10;

        /// <summary>The greeting the rolling update gives the responders (GREETING, "hello" before).</summary>
        private const string NewGreeting = "hello-v2";

        /// <summary>How many replicas the rolling update replaces at a time.</summary>
        private const int UpdateParallelism = 2;

        /// <summary>
        /// <c>shoal service update</c> of the service to a new spec (GREETING=<see cref="NewGreeting"/>), rolled out
        /// <see cref="UpdateParallelism"/> replicas at a time, 1 s apart, stop-first. While it runs, the running
        /// replicas are counted every 100 ms; the step fails if fewer than <c>Replicas - UpdateParallelism</c> ever
        /// were, or if a replica answers with the old greeting afterwards.
        /// </summary>
        private async Task RollingUpdateAsync(DemoNode through, CancellationToken cancellationToken)
        {
            const int floor = Replicas - UpdateParallelism;
            Say($"Updating `{ServiceName}` to a new spec ({DemoResponder.GreetingVariable}={NewGreeting}, which the responder starts its answers with), "
                + $"rolled out {UpdateParallelism} replicas at a time, 1 s apart, stop-first (an old replica stops before its replacement starts, "
                + $"so at least {floor} of {Replicas} keep running)");
            var step = Stopwatch.StartNew();
            using var sampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var sampler = SampleRolloutAsync(through, step, sampling.Token);
            try
            {
                await ShoalAsync(
                    through,
                    ["service", "update", "--env-add", $"{DemoResponder.GreetingVariable}={NewGreeting}", "--update-parallelism", UpdateParallelism.ToString(CultureInfo.InvariantCulture),
                        "--update-delay", "1s", "--update-order", "stop-first", "--update-monitor", "2s", ServiceName],
                    cancellationToken);
            }
            finally
            {
                await sampling.CancelAsync();
            }

            var returned = step.Elapsed;
            var rollout = await sampler;
            await WaitForRunningAsync(through, Replicas, cancellationToken, IsUpdated);
            if (rollout.Samples == 0)
            {
                throw new DemoException($"{through.Name} answered none of the task lists asked for while {ServiceName} was updated, so the replicas running meanwhile could not be counted");
            }

            if (rollout.Fewest < floor)
            {
                throw new DemoException(
                    $"only {rollout.Fewest} of {Replicas} replicas of {ServiceName} were running at one point of the stop-first update {UpdateParallelism} at a time; "
                    + $"at least {floor} should have been (see `shoal service ps {ServiceName}` and the leader's log)");
            }

            Say($"Every replica runs the new spec {Ms(rollout.AllUpdated ?? step.Elapsed)} after the update call (`service update` returned at {Ms(returned)}, "
                + $"once they had stayed up for the 2 s monitor window); fewest replicas running during the update: {rollout.Fewest} of {Replicas} "
                + $"(counted {rollout.Samples} times, every 100 ms)");
            Say("What each replica answers now (an HTTP GET to the address it logged at start):");
            foreach (var answer in await AskRespondersAsync(through, cancellationToken))
            {
                await environment.Out.WriteLineAsync("  " + answer);
            }

            await environment.Out.WriteLineAsync();
        }

        /// <summary>A running task made from the updated spec.</summary>
        private static bool IsUpdated(SwarmTask task) =>
            task.Spec.ContainerSpec?.Env?.Contains($"{DemoResponder.GreetingVariable}={NewGreeting}", StringComparer.Ordinal) == true;

        /// <summary>What the sampling of a rolling update saw.</summary>
        /// <param name="Fewest">The fewest replicas RUNNING (and meant to) in one sample.</param>
        /// <param name="Samples">How many samples were read.</param>
        /// <param name="AllUpdated">When every replica was first seen RUNNING on the new spec, after the update call.</param>
        private sealed record Rollout(int Fewest, int Samples, TimeSpan? AllUpdated);

        /// <summary>Counts the running replicas every 100 ms until <paramref name="cancellationToken"/> fires.</summary>
        private static async Task<Rollout> SampleRolloutAsync(DemoNode through, Stopwatch step, CancellationToken cancellationToken)
        {
            var fewest = int.MaxValue;
            var samples = 0;
            TimeSpan? allUpdated = null;
            try
            {
                while (true)
                {
                    try
                    {
                        var running = await RunningTasksAsync(through, cancellationToken);
                        samples++;
                        fewest = Math.Min(fewest, running.Count);
                        if (allUpdated is null && running.Count == Replicas && running.All(IsUpdated))
                        {
                            allUpdated = step.Elapsed;
                        }
                    }
                    catch (LocalApiException)
                    {
                        // A busy leader may answer late or not at all: the next sample counts.
                    }

                    await Task.Delay(100, cancellationToken);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }

            return new Rollout(fewest, samples, allUpdated);
        }

        /// <summary>
        /// Asks every running replica over HTTP, at the address it logged when it started (read with
        /// <c>shoal service logs --raw</c>); answers one line per replica, by slot.
        /// </summary>
        private async Task<List<string>> AskRespondersAsync(DemoNode through, CancellationToken cancellationToken)
        {
            var running = await RunningTasksAsync(through, cancellationToken);
            var addresses = new Dictionary<string, string>(StringComparer.Ordinal);
            await WaitForAsync(
                through,
                async ct =>
                {
                    foreach (var line in (await CaptureShoalAsync(through, ["service", "logs", "--raw", ServiceName], ct)).Split('\n'))
                    {
                        var task = running.FirstOrDefault(t => line.Contains($"(task {t.ID})", StringComparison.Ordinal));
                        var at = line.IndexOf(DemoResponder.ListeningOn, StringComparison.Ordinal);
                        if (task is not null && at >= 0)
                        {
                            addresses[task.ID] = "http://" + line[(at + DemoResponder.ListeningOn.Length)..].Trim();
                        }
                    }

                    return running.All(t => addresses.ContainsKey(t.ID));
                },
                $"the start line of every running replica of {ServiceName} in its log",
                cancellationToken);

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            var answers = new List<string>();
            foreach (var task in running.OrderBy(t => t.Slot))
            {
                string answer;
                try
                {
                    answer = (await http.GetStringAsync(new Uri(addresses[task.ID]), cancellationToken)).Trim();
                }
                catch (HttpRequestException e)
                {
                    throw new DemoException($"replica {task.Slot} of {ServiceName} (task {task.ID}) did not answer at {addresses[task.ID]}: {e.Message}");
                }

                if (!answer.StartsWith(NewGreeting + " ", StringComparison.Ordinal))
                {
                    throw new DemoException($"replica {task.Slot} of {ServiceName} (task {task.ID}) still answers \"{answer}\" after the update to {DemoResponder.GreetingVariable}={NewGreeting}");
                }

                answers.Add(answer);
            }

            return answers;
        }

        /// <summary>The command line of this very program's <c>demo responder</c>, as the service's COMMAND and ARGs.</summary>
        private static string[] ResponderCommand()
        {
            var start = DemoNode.SelfStartInfo();
            return [start.FileName, .. start.ArgumentList, "demo", "responder"];
        }

        /// <summary>Runs one <c>shoal</c> client command against <paramref name="through"/>, its output framed by blank lines.</summary>
        private async Task ShoalAsync(DemoNode through, string[] arguments, CancellationToken cancellationToken)
        {
            await environment.Out.WriteLineAsync($"  $ shoal {string.Join(' ', arguments.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"'{a}'" : a))}");
            var code = await ShoalCli.RunAsync(["-H", "unix://" + through.SocketPath, .. arguments], environment, cancellationToken);
            await environment.Out.WriteLineAsync();
            if (code != 0)
            {
                throw new DemoException($"`shoal {string.Join(' ', arguments)}` failed with exit code {code}");
            }
        }

        /// <summary>Runs one <c>shoal</c> client command against <paramref name="through"/> and answers what it wrote.</summary>
        private async Task<string> CaptureShoalAsync(DemoNode through, string[] arguments, CancellationToken cancellationToken)
        {
            using var output = new StringWriter(CultureInfo.InvariantCulture);
            var code = await ShoalCli.RunAsync(["-H", "unix://" + through.SocketPath, .. arguments], new CliEnvironment { Out = output, Error = environment.Error }, cancellationToken);
            return code == 0 ? output.ToString() : throw new DemoException($"`shoal {string.Join(' ', arguments)}` failed with exit code {code}");
        }

        private static async Task<List<SwarmTask>> RunningTasksAsync(DemoNode through, CancellationToken cancellationToken)
        {
            var filters = new ListFilters();
            filters.Add("service", ServiceName);
            filters.Add("desired-state", "running");
            return [.. (await through.Client.TaskListAsync(filters, cancellationToken)).Where(t => t.Status.State == "running")];
        }

        /// <summary>Waits until <paramref name="count"/> tasks of the service are RUNNING (and meant to), all matching <paramref name="where"/>.</summary>
        private static Task WaitForRunningAsync(DemoNode through, int count, CancellationToken cancellationToken, Func<SwarmTask, bool>? where = null) =>
            WaitForAsync(
                through,
                async ct =>
                {
                    var running = await RunningTasksAsync(through, ct);
                    return running.Count == count && running.All(where ?? (_ => true));
                },
                $"{count} running replicas of {ServiceName}",
                cancellationToken);

        private static async Task WaitForAsync(DemoNode through, Func<CancellationToken, Task<bool>> condition, string what, CancellationToken cancellationToken)
        {
            var deadline = Stopwatch.StartNew();
            var last = "no answer";
            while (deadline.Elapsed < TimeSpan.FromSeconds(90))
            {
                try
                {
                    if (await condition(cancellationToken))
                    {
                        return;
                    }

                    last = "not yet";
                }
                catch (LocalApiException e)
                {
                    last = e.Message;
                }

                await Task.Delay(100, cancellationToken);
            }

            throw new DemoException($"waited 90 s for {what}; {through.Name} last said: {last}");
        }

        public async Task PrintLogTailsAsync()
        {
            foreach (var node in _nodes)
            {
                await environment.Error.WriteLineAsync($"--- last lines of {node.Name}'s log ({node.LogPath}) ---");
                foreach (var line in node.LogTail(8))
                {
                    await environment.Error.WriteLineAsync(line);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var node in _nodes)
            {
                await node.StopAsync();
            }

            // Tasks outlive their agent by design (a killed worker's replicas keep running under their shims until an
            // agent on that data directory takes them over): end whatever the demo's nodes left behind.
            foreach (var node in _nodes)
            {
                if (!OperatingSystem.IsWindows())
                {
                    LeftoverTasks.KillAll(node.DataDirectory);
                }
            }

            if (!keep)
            {
                try
                {
                    Directory.Delete(_root, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }

        private static string Ms(Stopwatch stopwatch) => Ms(stopwatch.Elapsed);

        private static string Ms(TimeSpan elapsed) => ((long)elapsed.TotalMilliseconds).ToString("N0", CultureInfo.InvariantCulture) + " ms";

        private static string? StateOf(List<DockerApi.Model.Node> nodes, DemoNode node) =>
            nodes.FirstOrDefault(n => n.Description.Hostname == node.Name)?.Status.State;

        private async Task<DemoNode> LeaderAsync(DemoNode through, CancellationToken cancellationToken)
        {
            var nodes = await WaitForNodesAsync(through, list => list.Any(n => n.ManagerStatus?.Leader == true), "a leader", cancellationToken);
            var name = nodes.Single(n => n.ManagerStatus?.Leader == true).Description.Hostname;
            return _nodes.Single(n => n.Name == name);
        }

        private static async Task<List<DockerApi.Model.Node>> WaitForNodesAsync(DemoNode through, Func<List<DockerApi.Model.Node>, bool> condition, string what, CancellationToken cancellationToken)
        {
            var deadline = Stopwatch.StartNew();
            string last = "no answer";
            while (deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                try
                {
                    var nodes = await through.Client.NodeListAsync(new ListFilters(), cancellationToken);
                    if (condition(nodes))
                    {
                        return nodes;
                    }

                    last = string.Join(", ", nodes.Select(n => $"{n.Description.Hostname} {n.Status.State}"));
                }
                catch (LocalApiException e)
                {
                    last = e.Message;
                }

                await Task.Delay(100, cancellationToken);
            }

            throw new DemoException($"waited 60 s for {what}; {through.Name} last said: {last}");
        }

        private async Task ShowNodesAsync(DemoNode through, CancellationToken cancellationToken)
        {
            await environment.Out.WriteLineAsync();
            await ShoalCli.RunAsync(["-H", "unix://" + through.SocketPath, "node", "ls"], environment, cancellationToken);
            await environment.Out.WriteLineAsync();
        }

        private void Say(string line) => environment.Out.WriteLine($"[{_clock.Elapsed.TotalSeconds,5:0.0}s] {line}");
    }

    /// <summary>One <c>shoal agent</c> process of the demo, with a client of its local API.</summary>
    private sealed class DemoNode
    {
        private readonly Process _process;

        private DemoNode(string name, bool isManager, string dataDirectory, string address, Process process)
        {
            Name = name;
            IsManager = isManager;
            DataDirectory = dataDirectory;
            SocketPath = Path.Combine(dataDirectory, "shoal.sock");
            LogPath = Path.Combine(dataDirectory, "..", name + ".log");
            Address = address;
            _process = process;
            Client = new LocalApiClient("unix://" + SocketPath);
        }

        public string Name { get; }

        public bool IsManager { get; }

        public string DataDirectory { get; }

        public string SocketPath { get; }

        public string LogPath { get; }

        public string Address { get; }

        public LocalApiClient Client { get; }

        public bool IsRunning => !_process.HasExited;

        public static DemoNode Start(string root, string name, bool isManager)
        {
            var dataDirectory = Path.Combine(root, name);
            var address = $"127.0.0.1:{FreePort()}";
            var start = SelfStartInfo();
            foreach (var argument in new[] { "agent", "--data-dir", dataDirectory, "--listen-addr", address, "--advertise-addr", address, "--hostname", name, "--log-level", "info" })
            {
                start.ArgumentList.Add(argument);
            }

            start.RedirectStandardOutput = true;
            start.RedirectStandardError = true;
            start.UseShellExecute = false;
            var process = Process.Start(start) ?? throw new DemoException($"could not start {start.FileName}");
            var log = new StreamWriter(Path.Combine(root, name + ".log")) { AutoFlush = true };
            process.OutputDataReceived += (_, e) => Write(log, e.Data);
            process.ErrorDataReceived += (_, e) => Write(log, e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return new DemoNode(name, isManager, dataDirectory, address, process);
        }

        public async Task WaitForApiAsync(CancellationToken cancellationToken)
        {
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                if (_process.HasExited)
                {
                    throw new DemoException($"{Name} exited with code {_process.ExitCode} before its API answered; see {LogPath}");
                }

                try
                {
                    await Client.InfoAsync(cancellationToken);
                    return;
                }
                catch (Exception e) when (e is LocalApiException or CommandException && deadline.Elapsed < TimeSpan.FromSeconds(30))
                {
                    await Task.Delay(50, cancellationToken);
                }
            }
        }

        public void Kill()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit();
            }
        }

        /// <summary>SIGTERM, then SIGKILL after 10 s.</summary>
        public async Task StopAsync()
        {
            Client.Dispose();
            if (_process.HasExited)
            {
                return;
            }

            if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
            {
                _ = Kill(_process.Id, 15);
            }

            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
            }
        }

        public List<string> LogTail(int lines)
        {
            try
            {
                return File.ReadLines(LogPath).TakeLast(lines).ToList();
            }
            catch (IOException)
            {
                return [];
            }
        }

        /// <summary>How to start this very program: its apphost, or <c>dotnet shoal.dll</c>.</summary>
        public static ProcessStartInfo SelfStartInfo()
        {
            var path = Environment.ProcessPath ?? throw new DemoException("cannot tell where the shoal executable is");
            var start = new ProcessStartInfo(path);
            if (Path.GetFileNameWithoutExtension(path) == "dotnet")
            {
                start.ArgumentList.Add(typeof(DemoCommand).Assembly.Location);
            }

            return start;
        }

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        private static void Write(StreamWriter log, string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (log)
            {
                log.WriteLine(line);
            }
        }

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int Kill(int pid, int signal);
    }
}
