using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Shoal.Cli.LocalApi;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Commands;

/// <summary>
/// <c>shoal demo</c>: a local swarm of real <c>shoal agent</c> processes on loopback, in a temporary directory. It
/// founds the swarm, joins managers and workers, kills a worker with SIGKILL and shows it DOWN, kills the leader and
/// shows a new one elected with every worker back, promotes a worker, and tears everything down. Each step is narrated
/// with the time it took.
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
        var command = new Command("demo", "Run a local demo swarm: managers and workers as real processes on 127.0.0.1, a worker and the leader killed with SIGKILL, and the swarm healing itself");
        command.Options.Add(Managers);
        command.Options.Add(Workers);
        command.Options.Add(Keep);
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

            var victim = _nodes.Last(n => !n.IsManager);
            Say($"Killing {victim.Name} with SIGKILL");
            step.Restart();
            victim.Kill();
            await WaitForNodesAsync(first, nodes => StateOf(nodes, victim) == NodeStates.Down, $"{victim.Name} DOWN", cancellationToken);
            Say($"The leader marked {victim.Name} DOWN {Ms(step)} after the kill (3 missed heartbeats):");
            await ShowNodesAsync(first, cancellationToken);

            if (managerCount >= 3)
            {
                var leader = await LeaderAsync(first, cancellationToken);
                var survivor = _nodes.First(n => n.IsManager && n != leader && n.IsRunning);
                Say($"Killing the leader, {leader.Name}, with SIGKILL");
                step.Restart();
                var killed = DateTimeOffset.UtcNow;
                leader.Kill();
                var alive = _nodes.Where(n => n.IsRunning).ToList();
                var nodes = await WaitForNodesAsync(
                    survivor,
                    list => list.Any(n => n.ManagerStatus?.Leader == true && n.Description.Hostname != leader.Name),
                    "a new leader",
                    cancellationToken);
                var newLeader = nodes.Single(n => n.ManagerStatus?.Leader == true).Description.Hostname;
                Say($"{newLeader} was elected leader {Ms(step)} after the kill; every node is UNKNOWN until its session reaches the new leader");

                // READY written by the new leader's dispatcher (after the kill), for every node still running.
                await WaitForNodesAsync(
                    survivor,
                    list => alive.All(a => list.FirstOrDefault(n => n.Description.Hostname == a.Name) is { Status.State: NodeStates.Ready } n && n.UpdatedAt > killed),
                    "every live node READY through the new leader",
                    cancellationToken);
                Say($"Every live node re-registered with the new leader and is READY {Ms(step)} after the kill; none went DOWN:");
                await ShowNodesAsync(survivor, cancellationToken);
            }

            var promoted = _nodes.First(n => !n.IsManager && n.IsRunning);
            var through = _nodes.First(n => n.IsManager && n.IsRunning);
            Say($"Promoting {promoted.Name} to manager");
            step.Restart();
            var before = await through.Client.NodeInspectAsync(promoted.Name, cancellationToken);
            before.Spec.Role = NodeRoles.Manager;
            await through.Client.NodeUpdateAsync(before.ID, before.Version.Index, before.Spec, cancellationToken);
            await WaitForNodesAsync(through, nodes => nodes.Any(n => n.Description.Hostname == promoted.Name && n.ManagerStatus?.Reachability == Reachabilities.Reachable), $"{promoted.Name} a reachable manager", cancellationToken);
            Say($"{promoted.Name} got a manager certificate, joined the Raft group and is a reachable manager in {Ms(step)}:");
            await ShowNodesAsync(through, cancellationToken);

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

            Say($"Demo complete in {_clock.Elapsed.TotalSeconds:0.0} s; stopping the nodes");
            return 0;
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

        private static string Ms(Stopwatch stopwatch) => stopwatch.ElapsedMilliseconds.ToString("N0", CultureInfo.InvariantCulture) + " ms";

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
            SocketPath = Path.Combine(dataDirectory, "shoal.sock");
            LogPath = Path.Combine(dataDirectory, "..", name + ".log");
            Address = address;
            _process = process;
            Client = new LocalApiClient("unix://" + SocketPath);
        }

        public string Name { get; }

        public bool IsManager { get; }

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
        private static ProcessStartInfo SelfStartInfo()
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
