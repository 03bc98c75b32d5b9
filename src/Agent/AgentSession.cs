using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Ca;
using Shoal.Ca.Client;

namespace Shoal.Agent;

/// <summary>What <see cref="AgentSession.SessionEstablished"/> reports.</summary>
public sealed record SessionEstablishedEventArgs(string ManagerAddress, string SessionId);

/// <summary>
/// The worker's session with the managers (DESIGN §9): it registers with a manager picked at random by weight,
/// heartbeats at the period it is told, hands assignments to an <see cref="IAssignmentSink"/> and reports task
/// statuses in batches. On any failure it drops the session and registers again, with exponential backoff and
/// jitter (never longer than a heartbeat period), preferring the managers that have not failed since its last session.
/// </summary>
public sealed partial class AgentSession : IDisposable
{
    private readonly NodeSecurity _security;
    private readonly AgentOptions _options;
    private readonly IAssignmentSink _sink;
    private readonly NodeDescriptionProvider _descriptions;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Random _random;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, PendingStatus> _pending = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _reportSignal = new(0);

    // Channels (and so TLS connections) kept across registrations, by manager address: only the RunAsync loop uses it.
    private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private List<WeightedPeer> _managers;
    private Node? _node;
    private string? _sessionId;
    private string? _managerAddress;
    private bool _connected;
    private int _running;
    private long _heartbeatPeriodTicks;

    /// <param name="security">The node's certificate (its identity to the dispatcher).</param>
    /// <param name="options">Where to start and how to retry.</param>
    /// <param name="sink">Where assignments go.</param>
    /// <param name="descriptions">What the node is; the host's description by default.</param>
    /// <param name="timeProvider">The clock of heartbeats and backoff.</param>
    /// <param name="logger">Where to log.</param>
    /// <param name="random">Manager choice and jitter.</param>
    public AgentSession(
        NodeSecurity security,
        AgentOptions options,
        IAssignmentSink sink,
        NodeDescriptionProvider? descriptions = null,
        TimeProvider? timeProvider = null,
        ILogger<AgentSession>? logger = null,
        Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(security);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(sink);
        options.Validate();
        _security = security;
        _options = options;
        _sink = sink;
        _descriptions = descriptions ?? new NodeDescriptionProvider();
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _random = random ?? Random.Shared;
        _managers = [.. options.Managers.Select(a => new WeightedPeer { Addr = a, Weight = 1 })];
    }

    /// <summary>Raised when the node object the dispatcher sends changes (role, availability, status…).</summary>
    public event EventHandler<Node>? NodeChanged;

    /// <summary>Raised each time a session fails or cannot be opened (the session retries on its own).</summary>
    public event EventHandler<Exception>? SessionFailed;

    /// <summary>Raised each time a session is opened.</summary>
    public event EventHandler<SessionEstablishedEventArgs>? SessionEstablished;

    /// <summary>Whether a session is open now.</summary>
    public bool IsConnected
    {
        get
        {
            lock (_lock)
            {
                return _connected;
            }
        }
    }

    /// <summary>The manager the open session goes to (null when disconnected).</summary>
    public string? ManagerAddress
    {
        get
        {
            lock (_lock)
            {
                return _connected ? _managerAddress : null;
            }
        }
    }

    /// <summary>The current (or last) session ID.</summary>
    public string? SessionId
    {
        get
        {
            lock (_lock)
            {
                return _sessionId;
            }
        }
    }

    /// <summary>The node object as last sent by the dispatcher.</summary>
    public Node? Node
    {
        get
        {
            lock (_lock)
            {
                return _node;
            }
        }
    }

    /// <summary>The managers this agent picks from.</summary>
    public IReadOnlyList<WeightedPeer> Managers
    {
        get
        {
            lock (_lock)
            {
                return _managers;
            }
        }
    }

    /// <summary>Sessions opened so far.</summary>
    public int SessionsOpened { get; private set; }

    /// <summary>
    /// Holds a session until <paramref name="cancellationToken"/> is cancelled, registering again after every
    /// failure. Returns when cancelled, with the session closed.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _running, 1) == 1)
        {
            throw new InvalidOperationException("the agent session is already running");
        }

        try
        {
            var backoff = TimeSpan.Zero;
            // Managers that failed since the last session: avoided while another one remains untried.
            var failedSinceLastSession = new HashSet<string>(StringComparer.Ordinal);
            while (!cancellationToken.IsCancellationRequested)
            {
                var address = PickManager(failedSinceLastSession);
                DropChannelsOfUnlistedManagers();

                var established = false;
                try
                {
                    await RunSessionAsync(address, () => established = true, cancellationToken);
                }
                catch (Exception) when (cancellationToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e)
                {
                    if (established)
                    {
                        failedSinceLastSession.Clear();
                    }

                    if (!ConnectionOutlives(e))
                    {
                        DropChannel(address);
                    }

                    failedSinceLastSession.Add(address);
                    LogSessionFailed(_logger, address, Describe(e));
                    SessionFailed?.Invoke(this, e);
                }
                finally
                {
                    lock (_lock)
                    {
                        _connected = false;
                    }
                }

                backoff = established ? _options.InitialBackoff : Next(backoff);
                var delay = backoff / 2 + backoff / 2 * _random.NextDouble();
                try
                {
                    await Task.Delay(delay, _time, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            foreach (var channel in _channels.Values)
            {
                channel.Dispose();
            }

            _channels.Clear();
            Volatile.Write(ref _running, 0);
        }
    }

    /// <summary>
    /// Channels opened to managers so far, each with its TLS connection (registrations a manager refused reuse theirs).
    /// </summary>
    public int ChannelsOpened { get; private set; }

    /// <summary>
    /// Whether the connection a session failed on is worth keeping for the next registration: when a manager refused
    /// or ended the session itself (no leader yet, its dispatcher not running, rate limited) the connection is sound,
    /// and a new one would cost both sides a TLS handshake, thousands at once after a leader change. Failures the
    /// client saw on the wire (connection refused or reset, a missed deadline, a stream cut) drop it: it may be stale.
    /// </summary>
    internal static bool ConnectionOutlives(Exception e) => e is RpcException { Status.DebugException: null } rpc
        && rpc.StatusCode is StatusCode.Unavailable or StatusCode.FailedPrecondition or StatusCode.ResourceExhausted or StatusCode.NotFound or StatusCode.Aborted;

    private GrpcChannel ChannelTo(string address)
    {
        if (!_channels.TryGetValue(address, out var channel))
        {
            _channels[address] = channel = ClusterChannels.Create(address, _security);
            ChannelsOpened++;
        }

        return channel;
    }

    private void DropChannelsOfUnlistedManagers()
    {
        var listed = Managers.Select(m => m.Addr).ToHashSet(StringComparer.Ordinal);
        foreach (var address in _channels.Keys.Where(a => !listed.Contains(a)).ToList())
        {
            DropChannel(address);
        }
    }

    private void DropChannel(string address)
    {
        if (_channels.Remove(address, out var channel))
        {
            channel.Dispose();
        }
    }

    /// <summary>
    /// Queues task status updates and completes once the dispatcher accepted them (across reconnections if need be).
    /// Updates of one task waiting together are merged: the furthest state wins.
    /// </summary>
    public Task ReportStatusAsync(IEnumerable<TaskStatusUpdate> updates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(updates);
        var waits = new List<Task>();
        lock (_lock)
        {
            foreach (var update in updates)
            {
                if (_pending.TryGetValue(update.TaskId, out var waiting))
                {
                    if (update.Status.State >= waiting.Update.Status.State)
                    {
                        waiting.Update = update;
                    }
                }
                else
                {
                    _pending[update.TaskId] = waiting = new PendingStatus(update);
                }

                waits.Add(waiting.Accepted.Task);
            }
        }

        _reportSignal.Release();
        return Task.WhenAll(waits).WaitAsync(cancellationToken);
    }

    /// <summary>Releases the report signal; call after <see cref="RunAsync"/> returned.</summary>
    public void Dispose() => _reportSignal.Dispose();

    private async Task RunSessionAsync(string address, Action established, CancellationToken cancellationToken)
    {
        var client = new Shoal.Api.Dispatcher.DispatcherClient(ChannelTo(address));
        using var session = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = session.Token;
        var request = new SessionRequest { Description = _descriptions.Describe(), PreviousSessionId = SessionId ?? string.Empty };
        using var call = client.Session(request, cancellationToken: token);
        if (!await call.ResponseStream.MoveNext(token))
        {
            throw new IOException($"manager {address} closed the session before it began");
        }

        var first = call.ResponseStream.Current;
        if (first.HeartbeatPeriod is { } announced && announced.ToTimeSpan() > TimeSpan.Zero)
        {
            Volatile.Write(ref _heartbeatPeriodTicks, announced.ToTimeSpan().Ticks);
        }

        lock (_lock)
        {
            _managerAddress = address;
            _connected = true;
            _sessionId = first.SessionId;
        }

        Apply(first);
        established();
        SessionsOpened++;
        LogSessionOpened(_logger, address, first.SessionId);
        SessionEstablished?.Invoke(this, new SessionEstablishedEventArgs(address, first.SessionId));
        var loops = new[]
        {
            ListenAsync(call.ResponseStream, token),
            HeartbeatAsync(client, first.SessionId, first.HeartbeatPeriod.ToTimeSpan(), token),
            AssignmentsAsync(client, first.SessionId, token),
            ReportAsync(client, first.SessionId, token),
        };
        var ended = await Task.WhenAny(loops);
        await session.CancelAsync();
        try
        {
            await Task.WhenAll(loops);
        }
        catch (Exception) when (ended.IsFaulted || ended.IsCanceled)
        {
            // The first failure is the one that ended the session; the others are its consequences.
        }

        await ended;
        throw new IOException($"manager {address} ended the session");
    }

    private async Task ListenAsync(IAsyncStreamReader<SessionMessage> messages, CancellationToken cancellationToken)
    {
        while (await messages.MoveNext(cancellationToken))
        {
            Apply(messages.Current);
        }

        throw new IOException("the manager ended the session stream");
    }

    private async Task HeartbeatAsync(Shoal.Api.Dispatcher.DispatcherClient client, string sessionId, TimeSpan period, CancellationToken cancellationToken)
    {
        while (true)
        {
            await Task.Delay(period, _time, cancellationToken);
            var response = await client.HeartbeatAsync(
                new HeartbeatRequest { SessionId = sessionId },
                deadline: DateTime.UtcNow + _options.HeartbeatTimeout,
                cancellationToken: cancellationToken);
            period = response.Period.ToTimeSpan();
        }
    }

    private async Task AssignmentsAsync(Shoal.Api.Dispatcher.DispatcherClient client, string sessionId, CancellationToken cancellationToken)
    {
        using var call = client.Assignments(new AssignmentsRequest { SessionId = sessionId }, cancellationToken: cancellationToken);
        while (await call.ResponseStream.MoveNext(cancellationToken))
        {
            await _sink.ApplyAsync(call.ResponseStream.Current, cancellationToken);
        }

        throw new IOException("the manager ended the assignments stream");
    }

    private async Task ReportAsync(Shoal.Api.Dispatcher.DispatcherClient client, string sessionId, CancellationToken cancellationToken)
    {
        while (true)
        {
            List<PendingStatus> batch;
            lock (_lock)
            {
                batch = [.. _pending.Values.Take(_options.MaxStatusUpdatesPerCall)];
                foreach (var item in batch)
                {
                    _pending.Remove(item.Update.TaskId);
                }
            }

            if (batch.Count == 0)
            {
                await _reportSignal.WaitAsync(cancellationToken);
                continue;
            }

            var request = new UpdateTaskStatusRequest { SessionId = sessionId };
            request.Updates.AddRange(batch.Select(p => p.Update));
            try
            {
                await client.UpdateTaskStatusAsync(request, cancellationToken: cancellationToken);
            }
            catch
            {
                Requeue(batch);
                throw;
            }

            foreach (var item in batch)
            {
                item.Accepted.TrySetResult();
            }
        }
    }

    /// <summary>Puts back updates the dispatcher did not accept, unless a further state was reported meanwhile.</summary>
    private void Requeue(List<PendingStatus> batch)
    {
        lock (_lock)
        {
            foreach (var item in batch)
            {
                if (_pending.TryGetValue(item.Update.TaskId, out var newer))
                {
                    if (item.Update.Status.State > newer.Update.Status.State)
                    {
                        newer.Update = item.Update;
                    }

                    _ = newer.Accepted.Task.ContinueWith(_ => item.Accepted.TrySetResult(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }
                else
                {
                    _pending[item.Update.TaskId] = item;
                }
            }
        }
    }

    private void Apply(SessionMessage message)
    {
        Node? changed = null;
        lock (_lock)
        {
            if (message.Node is not null && !message.Node.Equals(_node))
            {
                _node = message.Node;
                changed = message.Node;
            }

            if (message.Managers.Count > 0)
            {
                _managers = [.. message.Managers];
            }
        }

        if (changed is not null)
        {
            NodeChanged?.Invoke(this, changed);
        }
    }

    /// <summary>A manager at random in proportion to the weights, avoiding <paramref name="avoid"/> when there is another.</summary>
    private string PickManager(HashSet<string> avoid)
    {
        List<WeightedPeer> managers;
        lock (_lock)
        {
            managers = _managers;
        }

        // Every manager failed once: start a new round over all of them.
        var candidates = managers.Where(m => !avoid.Contains(m.Addr)).ToList();
        if (candidates.Count == 0)
        {
            avoid.Clear();
            candidates = managers;
        }

        var total = candidates.Sum(m => Math.Max(1, m.Weight));
        var pick = _random.NextInt64(total);
        foreach (var manager in candidates)
        {
            pick -= Math.Max(1, manager.Weight);
            if (pick < 0)
            {
                return manager.Addr;
            }
        }

        return candidates[^1].Addr;
    }

    /// <summary>
    /// The next backoff: doubling up to <see cref="AgentOptions.MaxBackoff"/>, and never beyond one heartbeat period
    /// once one is known. After a leader change the new leader gives every node a grace of a few periods to register
    /// again before marking it DOWN; a backoff longer than a period could sleep through that grace.
    /// </summary>
    private TimeSpan Next(TimeSpan backoff)
    {
        var next = backoff == TimeSpan.Zero ? _options.InitialBackoff : backoff * 2;
        var ceiling = _options.MaxBackoff;
        var period = Volatile.Read(ref _heartbeatPeriodTicks);
        if (period > 0 && TimeSpan.FromTicks(period) < ceiling)
        {
            ceiling = TimeSpan.FromTicks(Math.Max(period, _options.InitialBackoff.Ticks));
        }

        return next > ceiling ? ceiling : next;
    }

    private static string Describe(Exception e) => e is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : e.Message;

    private sealed class PendingStatus(TaskStatusUpdate update)
    {
        public TaskStatusUpdate Update { get; set; } = update;

        public TaskCompletionSource Accepted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(EventId = 6000, Level = LogLevel.Information, Message = "Session {SessionId} opened with manager {Manager}")]
    private static partial void LogSessionOpened(ILogger logger, string manager, string sessionId);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning, Message = "Session with manager {Manager} failed: {Reason}; registering again")]
    private static partial void LogSessionFailed(ILogger logger, string manager, string reason);
}
