using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Ca;
using Shoal.Ca.Tls;
using Shoal.Store;

namespace Shoal.Manager.Dispatcher;

/// <summary>
/// The leader's side of the node sessions (DESIGN §8): registers nodes, keeps their heartbeat TTLs in memory only,
/// marks them READY, UNKNOWN or DOWN in batched store writes, streams their assignments and writes their task
/// statuses in batches. It serves calls only between <see cref="RunAsync"/> being started (on gaining leadership) and
/// cancelled (on losing it); otherwise every call fails with <see cref="DispatcherErrorKind.NotRunning"/>.
/// </summary>
public sealed partial class Dispatcher
{
    private const string NotRunningMessage = "the dispatcher is not running on this manager";
    private readonly MemoryStore _store;
    private readonly DispatcherOptions _options;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly ILogger _logger;
    private readonly Lock _runLock = new();
    private Run? _run;
    private bool _starting;

    /// <param name="store">The manager's store (replicated through Raft in a real manager).</param>
    /// <param name="options">Timings and limits; DESIGN's defaults when null.</param>
    /// <param name="timeProvider">The clock for TTLs, grace periods and batching.</param>
    /// <param name="logger">Where to log.</param>
    /// <param name="random">Jitter source.</param>
    public Dispatcher(MemoryStore store, DispatcherOptions? options = null, TimeProvider? timeProvider = null, ILogger<Dispatcher>? logger = null, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _options = options ?? new DispatcherOptions();
        _options.Validate();
        _time = timeProvider ?? TimeProvider.System;
        _random = random ?? Random.Shared;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Whether the dispatcher is serving (between start of <see cref="RunAsync"/> and its cancellation).</summary>
    public bool IsRunning => Volatile.Read(ref _run) is not null;

    /// <summary>Nodes with an open session right now.</summary>
    public int SessionCount => Volatile.Read(ref _run)?.SessionCount ?? 0;

    /// <summary>Store batches written for node status (registrations, UNKNOWN, DOWN) since the current run started.</summary>
    public int NodeWriteBatches => Volatile.Read(ref _run)?.NodeWriteBatches ?? 0;

    /// <summary>
    /// Serves until <paramref name="cancellationToken"/> is cancelled (leadership lost). On start every node that is
    /// not DOWN becomes UNKNOWN with a grace of <see cref="DispatcherOptions.LeaderChangeGraceMultiplier"/> periods to
    /// register again, else it becomes DOWN; the grace stretches, up to
    /// <see cref="DispatcherOptions.LeaderChangeMaxGraceMultiplier"/> periods, while other nodes are still coming back.
    /// On stop every session ends and queued writes that did not commit fail
    /// (their callers see the dispatcher unavailable and retry with the next leader).
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var run = new Run(this);
        lock (_runLock)
        {
            if (_run is not null || _starting)
            {
                throw new InvalidOperationException("the dispatcher is already running");
            }

            _starting = true;
        }

        try
        {
            // Nothing is served until every node is UNKNOWN, so no registration of this term can be overwritten.
            await run.MarkNodesUnknownAsync(cancellationToken);
            lock (_runLock)
            {
                _run = run;
                _starting = false;
            }

            var view = _store.View();
            var period = run.Period(view);
            var source = ClusterSecurity.FindCluster(view) is null ? "the default: the swarm's cluster object is not written yet" : "the cluster spec's";
            LogStarted(_logger, run.UnknownCount, period.TotalMilliseconds, source);
            var writers = run.StartWritersAsync();
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, _time, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }

            lock (_runLock)
            {
                _run = null;
            }

            await run.StopAsync(writers);
            LogStopped(_logger);
        }
        finally
        {
            lock (_runLock)
            {
                _starting = false;
                if (ReferenceEquals(_run, run))
                {
                    _run = null;
                }
            }

            run.Dispose();
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// Opens a session for <paramref name="caller"/> and streams its session messages through <paramref name="send"/>
    /// until the session ends: heartbeats missed, the node removed, a newer session of the node, the dispatcher
    /// stopped (each a <see cref="DispatcherException"/>), or <paramref name="cancellationToken"/> (the node left).
    /// </summary>
    /// <param name="caller">The node, from its certificate.</param>
    /// <param name="peerAddress">The IP address the node called from (stored as <c>status.addr</c>).</param>
    /// <param name="certificatePem">The node's certificate, recorded if the node object has to be created.</param>
    /// <param name="request">The registration.</param>
    /// <param name="send">Writes one message to the node.</param>
    /// <param name="cancellationToken">The call's token.</param>
    public async Task RunSessionAsync(
        PeerIdentity caller,
        string peerAddress,
        string? certificatePem,
        SessionRequest request,
        Func<SessionMessage, CancellationToken, Task> send,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(send);
        var run = RequireRun();
        var session = await run.RegisterAsync(caller, peerAddress, certificatePem, request, cancellationToken);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, session.Ended.Token);
        var nodeId = caller.NodeId;
        var (view, watcher) = _store.ViewAndWatch(new WatchOptions { Filter = e => IsSessionEvent(e, nodeId) });
        using (watcher)
        {
            try
            {
                SessionMessage? last = null;
                while (true)
                {
                    var message = BuildSessionMessage(run, view, session) ?? throw NodeRemoved(nodeId);
                    if (!message.Equals(last))
                    {
                        await send(message, linked.Token);
                        last = message;
                    }

                    if (!await watcher.WaitToReadAsync(linked.Token))
                    {
                        throw new DispatcherException(DispatcherErrorKind.NotRunning, "the session lost its view of the store; register again");
                    }

                    while (watcher.TryRead(out _))
                    {
                    }

                    view = _store.View();
                }
            }
            catch (OperationCanceledException) when (session.Ended.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw session.EndError();
            }
            catch (WatcherOverflowException)
            {
                throw new DispatcherException(DispatcherErrorKind.NotRunning, "the session fell behind the store; register again");
            }
        }
    }

    /// <summary>
    /// Records a heartbeat of <paramref name="nodeId"/>'s session and returns when to send the next one (the period,
    /// jittered). An unknown or ended session is <see cref="DispatcherErrorKind.SessionNotFound"/>.
    /// </summary>
    public TimeSpan Heartbeat(string nodeId, string sessionId)
    {
        var run = RequireRun();
        var session = run.Find(nodeId, sessionId);
        var period = run.Period(_store.View());
        session.Touch(period * _options.HeartbeatGraceMultiplier);
        var jitter = (_random.NextDouble() * 2 - 1) * _options.HeartbeatJitter;
        return period + period * jitter;
    }

    /// <summary>
    /// Queues status updates of the node's own tasks and completes when the batch holding them is committed (so an
    /// answered update is never lost across a failover). A task of another node fails the whole call with
    /// <see cref="DispatcherErrorKind.PermissionDenied"/>; updates of tasks no longer in the store are dropped.
    /// </summary>
    public async Task UpdateTaskStatusAsync(string nodeId, string sessionId, IReadOnlyList<TaskStatusUpdate> updates, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(updates);
        var run = RequireRun();
        run.Find(nodeId, sessionId);
        var view = _store.View();
        var queued = new List<(string, TaskStatusWrite)>(updates.Count);
        foreach (var update in updates)
        {
            if (update.Status is null || string.IsNullOrEmpty(update.TaskId))
            {
                throw new DispatcherException(DispatcherErrorKind.InvalidArgument, "a task status update needs a task ID and a status");
            }

            var task = view.Tasks.Get(update.TaskId);
            if (task is null)
            {
                continue;
            }

            if (task.NodeId != nodeId)
            {
                throw new DispatcherException(DispatcherErrorKind.PermissionDenied, $"task {update.TaskId} is not assigned to node {nodeId}");
            }

            queued.Add((update.TaskId, new TaskStatusWrite(update.TaskId, nodeId, update.Status)));
        }

        await run.Statuses.EnqueueAsync(queued).WaitAsync(cancellationToken);
    }

    private Run RequireRun() => Volatile.Read(ref _run) ?? throw new DispatcherException(DispatcherErrorKind.NotRunning, NotRunningMessage);

    private static DispatcherException NodeRemoved(string nodeId) =>
        new(DispatcherErrorKind.NodeRemoved, $"node {nodeId} was removed from the swarm");

    private static bool IsSessionEvent(StoreEvent e, string nodeId) => e.Target switch
    {
        Node node => node.Id == nodeId || node.Role == NodeRole.Manager || e.Old is Node { Role: NodeRole.Manager },
        Cluster => true,
        _ => false,
    };

    private static SessionMessage? BuildSessionMessage(Run run, ReadTransaction view, NodeSession session)
    {
        var node = view.Nodes.Get(session.NodeId);
        if (node is null)
        {
            return null;
        }

        var message = new SessionMessage
        {
            SessionId = session.Id,
            Node = node,
            HeartbeatPeriod = Duration.FromTimeSpan(run.Period(view)),
        };
        foreach (var manager in view.Nodes.ByRole(NodeRole.Manager))
        {
            if (!string.IsNullOrEmpty(manager.ManagerStatus?.Addr))
            {
                message.Managers.Add(new WeightedPeer { NodeId = manager.Id, Addr = manager.ManagerStatus.Addr, Weight = 1 });
            }
        }

        return message;
    }

    /// <summary>One session of one node: its ID, its TTL timer, and the token that ends its streams.</summary>
    private sealed class NodeSession(string nodeId, string id) : IDisposable
    {
        private DispatcherException? _endError;

        public string NodeId { get; } = nodeId;

        public string Id { get; } = id;

        public CancellationTokenSource Ended { get; } = new();

        public ITimer? Ttl { get; set; }

        public void Touch(TimeSpan ttl) => Ttl?.Change(ttl, Timeout.InfiniteTimeSpan);

        public void End(DispatcherException error)
        {
            Interlocked.CompareExchange(ref _endError, error, null);
            Ttl?.Dispose();
            Ended.Cancel();
        }

        public DispatcherException EndError() => Volatile.Read(ref _endError) ?? new DispatcherException(DispatcherErrorKind.SessionNotFound, $"session {Id} ended");

        public void Dispose()
        {
            Ttl?.Dispose();
            Ended.Dispose();
        }
    }

    /// <summary>A queued change of a node's status (and, at registration, its description).</summary>
    private sealed record NodeWrite(
        string NodeId,
        NodeState State,
        string Message,
        string? Addr = null,
        NodeDescription? Description = null,
        NodeRole? CreateAs = null,
        string? CertificatePem = null);

    /// <summary>A queued task status reported by the node the task is assigned to.</summary>
    private sealed record TaskStatusWrite(string TaskId, string Reporter, SwarmTaskStatus Status);

    private static string NewSessionId() => Identity.NewId();
}
