using System.Diagnostics;
using System.Globalization;
using Shoal.DockerApi.Model;
using DockerNode = Shoal.DockerApi.Model.Node;

namespace Shoal.Bench;

/// <summary>
/// The node scenarios of the harness, on swarms of real <c>shoal agent</c> processes (<see cref="LocalSwarm"/>):
/// joining, failure detection, and the workers' failover when the leader dies. Each prints a table and a summary.
/// </summary>
internal static class SwarmScenarios
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>
    /// <c>node-join</c>: workers join a 3-manager swarm one after another (or all at once); for each, the time of
    /// <c>POST /swarm/join</c> itself and from that call to the node READY in the leader's <c>GET /nodes</c>.
    /// </summary>
    public static async Task<int> NodeJoinAsync(int workers, TimeSpan heartbeat, bool concurrent, bool verbose)
    {
        await using var swarm = await LocalSwarm.StartAsync(3, 0, heartbeat, Options(verbose));
        var leader = await swarm.WaitForLeaderAsync(Deadline);
        var nodes = new List<SwarmNodeProcess>();
        for (var i = 0; i < workers; i++)
        {
            nodes.Add(await swarm.AddNodeAsync(manager: false));
        }

        Console.WriteLine($"3 managers + {workers} worker processes (already started, API up) joining {(concurrent ? "all at once" : "one after another")} through the leader; heartbeat {heartbeat.TotalSeconds:0.#} s");
        Console.WriteLine("| worker | join call ms | join -> READY on the leader ms |");
        Console.WriteLine("|---|---:|---:|");
        var calls = new List<double>();
        var ready = new List<double>();
        async Task JoinOneAsync(SwarmNodeProcess node, long started)
        {
            await node.Api.JoinAsync(swarm.WorkerToken, leader.Address, node.Address, node.Address);
            var call = Stopwatch.GetElapsedTime(started);
            await swarm.WaitForAsync(
                async ct => (await leader.Api.NodesAsync(ct)).Any(n => n.Description.Hostname == node.Name && n.Status.State == NodeStates.Ready),
                $"{node.Name} READY",
                Deadline,
                TimeSpan.FromMilliseconds(5));
            var total = Stopwatch.GetElapsedTime(started);
            lock (ready)
            {
                calls.Add(call.TotalMilliseconds);
                ready.Add(total.TotalMilliseconds);
                Console.WriteLine($"| {node.Name} | {call.TotalMilliseconds:0} | {total.TotalMilliseconds:0} |");
            }
        }

        if (concurrent)
        {
            var started = Stopwatch.GetTimestamp();
            await Task.WhenAll(nodes.Select(n => JoinOneAsync(n, started)));
        }
        else
        {
            foreach (var node in nodes)
            {
                await JoinOneAsync(node, Stopwatch.GetTimestamp());
            }
        }

        Console.WriteLine($"join call: {Summary(calls)}");
        Console.WriteLine($"join -> READY: {Summary(ready)}");
        return 0;
    }

    /// <summary>
    /// <c>node-down</c>: for each heartbeat period, a swarm of <paramref name="managers"/> managers and
    /// <paramref name="repetitions"/> workers; each repetition kills one worker with SIGKILL (at a random phase of its
    /// heartbeat) and measures until the leader lists it DOWN.
    /// </summary>
    public static async Task<int> NodeDownAsync(IReadOnlyList<TimeSpan> heartbeats, int repetitions, int managers, bool verbose)
    {
        var rows = new List<string>();
        foreach (var heartbeat in heartbeats)
        {
            await using var swarm = await LocalSwarm.StartAsync(managers, repetitions, heartbeat, Options(verbose));
            var leader = await swarm.WaitForLeaderAsync(Deadline);
            var samples = new List<double>();
            Console.WriteLine($"heartbeat {heartbeat.TotalSeconds:0.#} s, {managers} managers, {repetitions} workers; kill -9 of one worker per repetition -> DOWN in the leader's node list");
            foreach (var victim in swarm.Nodes.Where(n => n.Name.StartsWith('w')).ToList())
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * heartbeat.TotalMilliseconds));
                var killed = Stopwatch.GetTimestamp();
                await victim.KillAsync();
                await swarm.WaitForAsync(
                    async ct => (await leader.Api.NodesAsync(ct)).Single(n => n.ID == victim.NodeId).Status.State == NodeStates.Down,
                    $"{victim.Name} DOWN",
                    (4 * heartbeat) + Deadline,
                    TimeSpan.FromMilliseconds(5));
                var ms = Stopwatch.GetElapsedTime(killed).TotalMilliseconds;
                samples.Add(ms);
                Console.WriteLine($"  {victim.Name}: DOWN after {ms:0} ms ({ms / heartbeat.TotalMilliseconds:0.00} periods)");
            }

            rows.Add($"| {heartbeat.TotalSeconds:0.#} s | {repetitions} | {Median(samples):0} | {samples.Min():0} | {samples.Max():0} | {2 * heartbeat.TotalMilliseconds:0}–{3 * heartbeat.TotalMilliseconds:0} |");
        }

        Console.WriteLine("| heartbeat | kills | median ms | min ms | max ms | expected ms (2–3 periods) |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
        rows.ForEach(Console.WriteLine);
        return 0;
    }

    /// <summary>
    /// <c>worker-failover</c>: 3 managers and <paramref name="workers"/> workers; each repetition kills the leader with
    /// SIGKILL and measures until a new leader, until every worker's agent logged a new session (its own timestamp),
    /// and until the new leader lists every live node READY again (after the UNKNOWN it set); it watches the node list
    /// through the whole grace for live nodes shown DOWN. The killed manager is restarted between repetitions.
    /// </summary>
    public static async Task<int> WorkerFailoverAsync(int workers, int repetitions, TimeSpan heartbeat, bool verbose)
    {
        await using var swarm = await LocalSwarm.StartAsync(3, workers, heartbeat, Options(verbose));
        var grace = 6 * heartbeat;
        Console.WriteLine($"3 managers, {workers} workers, heartbeat {heartbeat.TotalSeconds:0.#} s (UNKNOWN grace {grace.TotalSeconds:0} s); kill -9 of the leader, times from the kill");
        Console.WriteLine("| rep | new leader ms | workers' new sessions ms (each) | all workers in session ms | all live nodes READY on the new leader ms | live nodes shown DOWN |");
        Console.WriteLine("|---:|---:|---|---:|---:|---|");
        var elections = new List<double>();
        var sessions = new List<double>();
        var readies = new List<double>();
        var downs = 0;
        for (var rep = 1; rep <= repetitions; rep++)
        {
            var leader = await swarm.WaitForLeaderAsync(Deadline);
            var alive = swarm.Nodes.Where(n => n != leader).ToList();
            var workerNodes = alive.Where(n => n.Name.StartsWith('w')).ToList();

            var killedAt = DateTime.UtcNow;
            var killed = Stopwatch.GetTimestamp();
            await leader.KillAsync();
            var newLeader = await swarm.WaitForLeaderAsync(Deadline, except: leader);
            var elected = Stopwatch.GetElapsedTime(killed);

            var down = new SortedSet<string>(StringComparer.Ordinal);
            TimeSpan? allReady = null;
            while (Stopwatch.GetElapsedTime(killed) < elected + grace + TimeSpan.FromSeconds(1) || allReady is null)
            {
                if (Stopwatch.GetElapsedTime(killed) > elected + grace + Deadline)
                {
                    throw new TimeoutException($"not every live node READY on the new leader {Deadline.TotalSeconds:0} s after the grace\n{swarm.Diagnostics(20)}");
                }

                var current = await swarm.FindLeaderAsync() ?? newLeader;
                List<DockerNode> nodes;
                try
                {
                    nodes = await current.Api.NodesAsync();
                }
                catch (Exception e) when (e is HttpRequestException or IOException or SwarmApiException)
                {
                    await Task.Delay(20);
                    continue;
                }

                foreach (var node in alive)
                {
                    if (nodes.FirstOrDefault(n => n.ID == node.NodeId)?.Status.State == NodeStates.Down)
                    {
                        down.Add(node.Name);
                    }
                }

                if (allReady is null && alive.All(a => nodes.Any(n => n.ID == a.NodeId && n.Status.State == NodeStates.Ready && n.UpdatedAt >= new DateTimeOffset(killedAt))))
                {
                    allReady = Stopwatch.GetElapsedTime(killed);
                }

                await Task.Delay(20);
            }

            var opened = workerNodes.Select(w => (w.Name, First: w.SessionsSince(killedAt) is [var first, ..] ? first : null)).ToList();
            var missing = opened.Where(o => o.First is null).Select(o => o.Name).ToList();
            if (missing.Count > 0)
            {
                throw new InvalidOperationException($"rep {rep}: {string.Join(", ", missing)} opened no session after the kill\n{swarm.Diagnostics(20)}");
            }

            var each = opened.Select(o => (o.First!.At - killedAt).TotalMilliseconds).ToList();
            elections.Add(elected.TotalMilliseconds);
            sessions.Add(each.Max());
            readies.Add(allReady!.Value.TotalMilliseconds);
            downs += down.Count > 0 ? 1 : 0;
            Console.WriteLine($"| {rep} | {elected.TotalMilliseconds:0} | {string.Join(", ", each.Select(e => e.ToString("0", CultureInfo.InvariantCulture)))} | {each.Max():0} | {allReady.Value.TotalMilliseconds:0} | {(down.Count == 0 ? "none" : string.Join(", ", down))} |");

            // Back to full strength before the next kill: the killed manager restarts from its data directory.
            await leader.StartAsync();
            await swarm.WaitForNodesAsync(
                list => list.All(n => n.Status.State == NodeStates.Ready) && list.Count(n => n.ManagerStatus?.Reachability == Reachabilities.Reachable) == 3,
                "every node READY, three managers reachable, after the restart",
                Deadline + grace);
        }

        Console.WriteLine($"new leader: {Summary(elections)}");
        Console.WriteLine($"all workers in session with a live manager: {Summary(sessions)}");
        Console.WriteLine($"all live nodes READY on the new leader: {Summary(readies)}");
        Console.WriteLine($"repetitions where a live node was shown DOWN: {downs} of {repetitions}");
        return 0;
    }

    private static LocalSwarmOptions Options(bool verbose) => new() { Log = verbose ? Console.Error.WriteLine : null };

    private static double Median(List<double> samples)
    {
        var sorted = samples.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string Summary(List<double> samples) =>
        $"median {Median(samples):0} ms, min {samples.Min():0} ms, max {samples.Max():0} ms over {samples.Count}";
}
