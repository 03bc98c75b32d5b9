using System.Threading.Channels;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Ca;
using Shoal.Raft.Core;
using Shoal.Raft.Storage;
using Shoal.Raft.Transport;

namespace Shoal.Raft;

/// <summary>
/// One manager's Raft member: the driver around the pure <see cref="RaftCore"/>. A single loop owns the core; for
/// each <see cref="Ready"/> it persists (one fsync for everything that arrived meanwhile: group commit), sends, then
/// applies, in that order. Proposals complete once applied here; a lost leadership fails them with
/// <see cref="LeadershipLostException"/> (never with a timeout that could lie about a write that still commits).
/// </summary>
public sealed partial class RaftNode : IRaftMessageSink, IAsyncDisposable
{
    private readonly RaftNodeOptions _options;
    private readonly IRaftStateMachine _app;
    private readonly ILogger _logger;
    private readonly Channel<Action> _commands = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<ulong, PendingProposal> _proposals = [];
    private readonly Dictionary<ByteString, PendingRead> _reads = [];
    private readonly List<PendingRead> _readsWaitingForApply = [];
    private readonly Dictionary<ulong, RaftMember> _members = [];
    private readonly HashSet<ulong> _removed = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, long> _lastHeard = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, Action<Exception>> _queued = new();
    private readonly WriteAheadLog _wal;
    private readonly SnapshotStore _snapshots;
    private readonly RaftCore _core;
    private RaftTransport? _transport;
    private Task _loop = Task.CompletedTask;
    private Task _ticker = Task.CompletedTask;
    private ulong _lastSnapshotIndex;
    private bool _snapshotInProgress;
    private RaftSnapshot? _snapshotTaken;
    private long _readCounter;
    private long _requestCounter;
    private volatile Exception? _failure;
    private int _inboxCount;
    private volatile bool _stopped;
    private LeadershipChange _leadership;
    private bool _leaderReady;

    private RaftNode(RaftNodeOptions options, IRaftStateMachine app, WriteAheadLog wal, SnapshotStore snapshots, RaftCore core, ILogger logger)
    {
        _options = options;
        _app = app;
        _wal = wal;
        _snapshots = snapshots;
        _core = core;
        _logger = logger;
    }

    /// <summary>Raised on the driver's loop when this member gains or loses leadership, or learns a new leader.</summary>
    public event Action<LeadershipChange>? LeadershipChanged;

    /// <summary>This member's Raft ID.</summary>
    public ulong Id => _options.Self.RaftId;

    /// <summary>The latest leadership state.</summary>
    public LeadershipChange Leadership => _leadership;

    /// <summary>
    /// Completes when the member's loop has ended: on <see cref="DisposeAsync"/>, or faulted when it stopped on its
    /// own because it could not persist (disk full, I/O error). A stopped member promises nothing any more: every
    /// request fails with <see cref="RaftStoppedException"/>; the manager restarts it from its files.
    /// </summary>
    public Task Completion => _loop;

    /// <summary>Why the member stopped on its own, or null while it runs (or was disposed).</summary>
    public Exception? Failure => _failure;

    /// <summary>Whether this member leads now.</summary>
    public bool IsLeader => _leadership.IsLeader;

    /// <summary>The members as this member last applied them.</summary>
    public IReadOnlyList<RaftMember> Members
    {
        get
        {
            lock (_members)
            {
                return [.. _members.Values.OrderBy(m => m.RaftId)];
            }
        }
    }

    /// <summary>
    /// Whether member <paramref name="raftId"/> was heard from within two election timeouts (itself always is).
    /// Meaningful on the leader, which hears from every member at each heartbeat; a follower hears from the leader only.
    /// </summary>
    public bool IsReachable(ulong raftId)
    {
        if (raftId == Id)
        {
            return true;
        }

        var window = _options.TickInterval * _options.ElectionTick * 2;
        return _lastHeard.TryGetValue(raftId, out var heard) && _options.TimeProvider.GetElapsedTime(heard) <= window;
    }

    /// <summary>The transport's sink for the cluster port's <see cref="RaftService"/>.</summary>
    public IRaftMessageSink Sink => this;

    /// <summary>
    /// Opens the member's disk state and starts it. With an empty disk: <paramref name="bootstrap"/> founds a new
    /// single-member group; otherwise the member waits to be added by a leader, reaching the
    /// <paramref name="peers"/> it was told of until it learns the configuration.
    /// </summary>
    public static async Task<RaftNode> StartAsync(
        RaftNodeOptions options,
        IRaftStateMachine app,
        NodeSecurity security,
        bool bootstrap,
        IReadOnlyList<RaftMember>? peers = null,
        ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        loggerFactory ??= NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger<RaftNode>();
        DurableFiles.CreatePrivateDirectory(options.Directory);
        var snapshots = new SnapshotStore(Path.Combine(options.Directory, "snap"), options.KeepSnapshots, loggerFactory.CreateLogger<SnapshotStore>(), options.Protector);
        var wal = WriteAheadLog.Open(
            Path.Combine(options.Directory, "wal"),
            new WalOptions { SegmentSize = options.SegmentSize, Protector = options.Protector, Fsync = options.Fsync },
            loggerFactory.CreateLogger<WriteAheadLog>(),
            out var recovered);

        var snapshot = snapshots.LoadNewest();
        var metadata = recovered.SnapshotMetadata;
        if (metadata is not null && (snapshot is null || snapshot.Metadata.Index != metadata.Index))
        {
            await wal.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException(
                $"the WAL in {options.Directory} refers to a snapshot at index {metadata.Index}, but the newest valid snapshot file is at {snapshot?.Metadata.Index.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}; the member cannot start from an inconsistent disk");
        }

        var fresh = metadata is null && recovered.Entries.Count == 0 && recovered.HardState.Term == 0;
        var entries = recovered.Entries;
        var hardState = recovered.HardState;
        if (fresh && bootstrap)
        {
            // Found the group: the core starts a founder's log with an AddVoter entry for it, so that members who
            // join later learn it from the log; the first Ready persists that entry.
            metadata = new RaftSnapshotMetadata { Index = 0, Term = 0 };
            metadata.Members.Add(options.Self);
            LogBootstrapped(logger, options.Self.RaftId);
        }

        var core = new RaftCore(
            new RaftCoreOptions
            {
                Id = options.Self.RaftId,
                ElectionTick = options.ElectionTick,
                HeartbeatTick = options.HeartbeatTick,
                Random = options.Random,
            },
            hardState,
            metadata,
            entries);

        var node = new RaftNode(options, app, wal, snapshots, core, logger);
        if (snapshot is not null)
        {
            app.Restore(snapshot.Data.Memory, snapshot.Metadata.Index);
            node.SetMembership(snapshot.Metadata);
            node._lastSnapshotIndex = snapshot.Metadata.Index;
            core.SetSnapshot(snapshot, snapshot.Metadata.Index);
        }
        else if (metadata is not null)
        {
            node.SetMembership(metadata);
        }

        node._transport = new RaftTransport(security, node, loggerFactory.CreateLogger<RaftTransport>());
        foreach (var peer in peers ?? [])
        {
            if (peer.RaftId != options.Self.RaftId)
            {
                node._transport.SetPeer(peer.RaftId, peer.Addr);
            }
        }

        node.SyncPeers();
        node._loop = Task.Run(node.RunAsync, CancellationToken.None);
        node._ticker = Task.Run(node.TickAsync, CancellationToken.None);
        if (fresh && bootstrap)
        {
            node.Post(core.Campaign);
        }

        LogStarted(logger, options.Self.RaftId, recovered.Entries.Count, hardState.Term, hardState.Commit);
        return node;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Requests

    /// <summary>
    /// Proposes <paramref name="data"/> and waits until it is applied here. <paramref name="onApplied"/>, when given,
    /// runs instead of <see cref="IRaftStateMachine.Apply"/> for this entry, synchronously, in log order.
    /// </summary>
    /// <exception cref="NotLeaderException">This member is not the leader.</exception>
    /// <exception cref="LeadershipLostException">Leadership was lost before the entry committed here.</exception>
    public Task<ulong> ProposeAsync(ByteString data, Action<ulong>? onApplied = null, CancellationToken cancellationToken = default) =>
        ProposeAsync(data, onApplied, precondition: null, cancellationToken);

    /// <summary>
    /// As <see cref="ProposeAsync(ByteString, Action{ulong}?, CancellationToken)"/>, with a
    /// <paramref name="precondition"/> run on the driver's loop, atomically with the application of committed
    /// entries, just before the entry is appended: it returns null to go on, or why the entry must not be proposed
    /// (the proposal then fails with <see cref="ProposalRefusedException"/> and nothing enters the log).
    /// </summary>
    public Task<ulong> ProposeAsync(ByteString data, Action<ulong>? onApplied, Func<string?>? precondition, CancellationToken cancellationToken = default)
    {
        var pending = new PendingProposal(onApplied);
        PostRequest(() =>
        {
            try
            {
                if (!_leaderReady)
                {
                    // A new leader serves writes only once it has applied every entry of earlier terms: the caller
                    // validated its write against the local state, which must not miss a committed entry.
                    throw _core.Role == RaftRole.Leader
                        ? new NotLeaderException($"this member was just elected and is applying the previous leader's entries; retry in a moment")
                        : new NotLeaderException(_core.Lead);
                }

                if (precondition?.Invoke() is { } refusal)
                {
                    // E.g. the write was checked while this member was still a follower, and entries it had not
                    // applied then have been applied since (on becoming leader): its checks no longer hold.
                    throw new ProposalRefusedException(refusal);
                }

                var (index, term) = _core.Propose(data);
                pending.Term = term;
                _proposals[index] = pending;
            }
            catch (Exception e) when (e is NotLeaderException or ProposalRefusedException or InvalidOperationException)
            {
                pending.Completion.TrySetException(e is InvalidOperationException ? new NotLeaderException(e.Message) : e);
            }
        }, e => pending.Completion.TrySetException(e));
        return pending.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Waits until this member has applied everything committed before the call, as confirmed by a quorum
    /// (ReadIndex): a read of the local state after it is linearizable.
    /// </summary>
    /// <exception cref="NotLeaderException">No leader is known.</exception>
    /// <exception cref="TimeoutException">No leader confirmed the read within two election timeouts.</exception>
    public async Task<ulong> ReadIndexAsync(CancellationToken cancellationToken = default)
    {
        var context = ByteString.CopyFrom(BitConverter.GetBytes(Interlocked.Increment(ref _readCounter)));
        var pending = new PendingRead(context);
        PostRequest(() =>
        {
            try
            {
                _reads[context] = pending;
                _core.ReadIndex(context);
            }
            catch (NotLeaderException e)
            {
                _reads.Remove(context);
                pending.Completion.TrySetException(e);
            }
        }, e => pending.Completion.TrySetException(e));
        var timeout = _options.TickInterval * _options.ElectionTick * 2;
        try
        {
            return await pending.Completion.Task.WaitAsync(timeout, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _commands.Writer.TryWrite(() => _reads.Remove(context));
            throw new TimeoutException($"no leader confirmed the read within {timeout.TotalSeconds:0.#} s");
        }
    }

    /// <summary>Adds a voter (on the leader); completes when the change is applied here.</summary>
    public Task AddMemberAsync(RaftMember member, CancellationToken cancellationToken = default) =>
        ChangeMembershipAsync(new RaftConfChange { Type = RaftConfChangeType.RaftConfChangeAddVoter, Member = member }, cancellationToken);

    /// <summary>Removes a voter (on the leader); its Raft ID can never be used again.</summary>
    public Task RemoveMemberAsync(ulong raftId, CancellationToken cancellationToken = default) =>
        ChangeMembershipAsync(new RaftConfChange { Type = RaftConfChangeType.RaftConfChangeRemoveVoter, Member = new RaftMember { RaftId = raftId } }, cancellationToken);

    /// <summary>Hands leadership to <paramref name="raftId"/> and waits until it leads (or an election timeout passes).</summary>
    public async Task TransferLeadershipAsync(ulong raftId, CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChange(LeadershipChange change)
        {
            if (change.Leader == raftId)
            {
                done.TrySetResult();
            }
        }

        LeadershipChanged += OnChange;
        try
        {
            PostRequest(() =>
            {
                try
                {
                    _core.TransferLeadership(raftId);
                }
                catch (NotLeaderException e)
                {
                    done.TrySetException(e);
                }
            }, e => done.TrySetException(e));
            var timeout = _options.TickInterval * _options.ElectionTick * 2;
            await done.Task.WaitAsync(timeout, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            LeadershipChanged -= OnChange;
        }
    }

    /// <summary>The core's status, read on the driver's loop.</summary>
    public Task<RaftStatus> StatusAsync(CancellationToken cancellationToken = default)
    {
        var result = new TaskCompletionSource<RaftStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        PostRequest(
            () => result.TrySetResult(new RaftStatus(
                _core.Id, _core.Term, _core.Lead, _core.Role, _core.Committed, _core.Applied, _core.LastIndex, _core.FirstIndex,
                _core.Progress.ToDictionary(p => p.Key, p => (p.Value.Match, p.Value.State)))),
            e => result.TrySetException(e));
        return result.Task.WaitAsync(cancellationToken);
    }

    private async Task<ulong> ChangeMembershipAsync(RaftConfChange change, CancellationToken cancellationToken)
    {
        // One change at a time: while another is still being applied (or a new leader has not yet committed its
        // first entry), wait a tick and try again, for up to a few election timeouts.
        for (var attempt = 0; ; attempt++)
        {
            var pending = new PendingProposal(null);
            PostRequest(() =>
            {
                try
                {
                    var (index, term) = _core.ProposeConfChange(change);
                    pending.Term = term;
                    _proposals[index] = pending;
                }
                catch (Exception e) when (e is NotLeaderException or InvalidOperationException)
                {
                    pending.Completion.TrySetException(e);
                }
            }, e => pending.Completion.TrySetException(e));
            try
            {
                return await pending.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidOperationException e) when (e is not ObjectDisposedException and not RaftStoppedException && attempt < _options.ElectionTick * 4)
            {
                await Task.Delay(_options.TickInterval, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Transport sink

    void IRaftMessageSink.Receive(RaftMessage message, string callerNodeId)
    {
        if (_stopped || _removed.Contains(message.From))
        {
            return;
        }

        lock (_members)
        {
            // A message must come from the node that holds that Raft ID, when we know who that is.
            if (_members.TryGetValue(message.From, out var member) && member.NodeId.Length > 0 && callerNodeId.Length > 0 && member.NodeId != callerNodeId)
            {
                LogImpersonation(_logger, callerNodeId, message.From);
                return;
            }
        }

        _lastHeard[message.From] = _options.TimeProvider.GetTimestamp();
        if (Interlocked.Increment(ref _inboxCount) > 10_000)
        {
            // Overloaded: dropping is safe in Raft; the sender retries.
            Interlocked.Decrement(ref _inboxCount);
            return;
        }

        _commands.Writer.TryWrite(() =>
        {
            Interlocked.Decrement(ref _inboxCount);
            if (message.To == Id)
            {
                _core.Step(message);
            }
        });
    }

    void IRaftMessageSink.ReportUnreachable(ulong raftId) => _commands.Writer.TryWrite(() => _core.ReportUnreachable(raftId));

    void IRaftMessageSink.ReportSnapshot(ulong raftId, bool failed) => _commands.Writer.TryWrite(() => _core.ReportSnapshot(raftId, failed));

    // ------------------------------------------------------------------------------------------------------------
    // The loop

    private void Post(Action command)
    {
        if (!_commands.Writer.TryWrite(command))
        {
            throw StoppedError();
        }
    }

    /// <summary>
    /// Posts a request whose caller waits: should the member stop before the loop runs it, <paramref name="onStopped"/>
    /// fails the caller (the request was not carried out) instead of leaving it waiting.
    /// </summary>
    private void PostRequest(Action command, Action<Exception> onStopped)
    {
        var id = Interlocked.Increment(ref _requestCounter);
        _queued[id] = onStopped;
        try
        {
            Post(() =>
            {
                _queued.TryRemove(id, out _);
                command();
            });
        }
        catch
        {
            _queued.TryRemove(id, out _);
            throw;
        }
    }

    private Exception StoppedError() => _failure is { } failure
        ? new RaftStoppedException($"this manager's Raft member stopped after a storage failure ({failure.Message}); the request was not carried out", failure)
        : new ObjectDisposedException(nameof(RaftNode), "the Raft member is stopped");

    /// <summary>Once the loop has ended: no more commands; requests still queued and pending ones fail with <paramref name="reason"/>.</summary>
    private void Halt(Exception reason)
    {
        _commands.Writer.TryComplete();
        foreach (var id in _queued.Keys)
        {
            if (_queued.TryRemove(id, out var fail))
            {
                fail(reason);
            }
        }

        FailAll(reason);
    }

    private async Task TickAsync()
    {
        var token = _stopping.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                await Task.Delay(_options.TickInterval, _options.TimeProvider, token).ConfigureAwait(false);
                _commands.Writer.TryWrite(_core.Tick);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RunAsync()
    {
        var reader = _commands.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stopping.Token).ConfigureAwait(false))
            {
                var handled = 0;
                while (handled++ < 4096 && reader.TryRead(out var command))
                {
                    command();
                }

                if (_snapshotTaken is { } taken)
                {
                    _snapshotTaken = null;
                    await CompleteSnapshotAsync(taken).ConfigureAwait(false);
                }

                while (_core.HasReady)
                {
                    await ProcessReadyAsync(_core.GetReady()).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // A failure to persist leaves the member unable to promise anything: stop it rather than lie. Proposals
            // already in the log may or may not commit elsewhere; requests not yet taken in were not carried out.
            LogLoopFailed(_logger, e);
            _failure = e;
            FailAll(new LeadershipLostException("the Raft member stopped: " + e.Message, e));
            Halt(StoppedError());
            _stopping.Cancel();
            Publish(new LeadershipChange(false, 0, _core.Term));
            throw;
        }
    }

    private async Task ProcessReadyAsync(Ready ready)
    {
        // 1. Persist: snapshot first, then hard state and entries, in one fsync.
        if (ready.Snapshot is { } snapshot)
        {
            await _snapshots.SaveAsync(snapshot, _stopping.Token).ConfigureAwait(false);
            await _wal.SaveSnapshotMarkerAsync(snapshot.Metadata, replacesLog: true, _stopping.Token).ConfigureAwait(false);
        }

        // A leader's appends and heartbeats may go out before its own write: it counts itself only once persisted
        // (Raft thesis §10.2.1). Everything else (votes, acknowledgements) waits for the fsync.
        var early = _core.Role == RaftRole.Leader;
        if (early)
        {
            foreach (var message in ready.Messages)
            {
                if (message.Type is RaftMessageType.RaftMsgApp or RaftMessageType.RaftMsgHeartbeat)
                {
                    _transport!.Send(message);
                }
            }
        }

        var persisting = System.Diagnostics.Stopwatch.GetTimestamp();
        if (ready.HardState is not null || ready.Entries.Count > 0)
        {
            await _wal.SaveAsync(ready.HardState, ready.Entries, ready.MustSync, _stopping.Token).ConfigureAwait(false);
        }

        var persisted = System.Diagnostics.Stopwatch.GetElapsedTime(persisting);

        // 2. Send.
        foreach (var message in ready.Messages)
        {
            if (!early || message.Type is not (RaftMessageType.RaftMsgApp or RaftMessageType.RaftMsgHeartbeat))
            {
                _transport!.Send(message);
            }
        }

        // 3. Apply.
        var applying = System.Diagnostics.Stopwatch.GetTimestamp();
        if (ready.Snapshot is { } installed)
        {
            _app.Restore(installed.Data.Memory, installed.Metadata.Index);
            SetMembership(installed.Metadata);
            _lastSnapshotIndex = installed.Metadata.Index;
            FailProposalsUpTo(installed.Metadata.Index);
            LogSnapshotInstalled(_logger, installed.Metadata.Index, installed.Data.Length);
        }

        foreach (var entry in ready.CommittedEntries)
        {
            ApplyEntry(entry);
        }

        foreach (var read in ready.ReadStates)
        {
            if (_reads.Remove(read.Context, out var pending))
            {
                pending.Index = read.Index;
                _readsWaitingForApply.Add(pending);
            }
        }

        if (ready.SoftState is { } soft)
        {
            OnSoftState(soft);
        }

        _core.Advance(ready);
        ReleaseReads();
        MaybeSnapshot();

        // While the loop persists and applies, this member answers no heartbeat: beyond an election timeout the
        // leader's check-quorum (or a follower's election timer) counts it as gone.
        var applied = System.Diagnostics.Stopwatch.GetElapsedTime(applying);
        if (persisted + applied >= SlowReadyWarning(_options))
        {
            LogSlowReady(_logger, persisted.TotalMilliseconds, ready.Entries.Count, ready.Entries.Sum(e => (long)e.Data.Length), applied.TotalMilliseconds, ready.CommittedEntries.Count);
        }
    }

    /// <summary>Half an election timeout: a persist-and-apply step this long is worth an operator's attention.</summary>
    private static TimeSpan SlowReadyWarning(RaftNodeOptions options) => options.TickInterval * options.ElectionTick / 2;

    private void ApplyEntry(RaftEntry entry)
    {
        _proposals.Remove(entry.Index, out var pending);
        var ours = pending is not null && pending.Term == entry.Term;
        if (pending is not null && !ours)
        {
            pending.Completion.TrySetException(new LeadershipLostException($"entry {entry.Index} was replaced by another leader's; the proposal was not committed"));
        }

        switch (entry.Type)
        {
            case RaftEntryType.RaftEntryConfChange:
                var change = RaftConfChange.Parser.ParseFrom(entry.Data);
                _core.ApplyConfChange(change);
                ApplyMembership(change);
                break;
            case RaftEntryType.RaftEntryNormal when !entry.Data.IsEmpty:
                if (ours && pending!.OnApplied is { } onApplied)
                {
                    onApplied(entry.Index);
                }
                else
                {
                    _app.Apply(entry.Index, entry.Data.Memory);
                }

                break;
            default:
                break;
        }

        if (ours)
        {
            pending!.Completion.TrySetResult(entry.Index);
        }

        if (!_leaderReady && _core.Role == RaftRole.Leader && entry.Term == _core.Term)
        {
            // The first entry of our term is applied, so is everything before it: now we lead.
            _leaderReady = true;
            Publish(new LeadershipChange(true, Id, _core.Term));
        }
    }

    private void OnSoftState(SoftState soft)
    {
        var leading = soft.Role == RaftRole.Leader;
        if (_leaderReady && !leading)
        {
            // Nothing proposed here can be known to commit any more.
            foreach (var pending in _proposals.Values)
            {
                pending.Completion.TrySetException(new LeadershipLostException());
            }

            _proposals.Clear();
        }

        if (!leading)
        {
            _leaderReady = false;
        }

        // A new leader is announced as leading only when it has applied the entries of earlier terms (ApplyEntry).
        Publish(new LeadershipChange(leading && _leaderReady, soft.Lead, _core.Term));
    }

    private void Publish(LeadershipChange change)
    {
        if (change == _leadership)
        {
            return;
        }

        if (change.Leader != _leadership.Leader || change.IsLeader != _leadership.IsLeader)
        {
            LogLeadership(_logger, change.Leader, change.Term, change.IsLeader);
        }

        _leadership = change;
        LeadershipChanged?.Invoke(change);
    }

    private void ReleaseReads()
    {
        if (_readsWaitingForApply.Count == 0)
        {
            return;
        }

        var applied = _core.Applied;
        _readsWaitingForApply.RemoveAll(read =>
        {
            if (read.Index > applied)
            {
                return false;
            }

            read.Completion.TrySetResult(read.Index);
            return true;
        });
    }

    private void MaybeSnapshot()
    {
        var applied = _core.Applied;
        if (_snapshotInProgress || applied < _lastSnapshotIndex + _options.SnapshotInterval)
        {
            return;
        }

        _snapshotInProgress = true;
        var term = _core.TermAt(applied) ?? _core.Term;
        var metadata = new RaftSnapshotMetadata { Index = applied, Term = term };
        lock (_members)
        {
            metadata.Members.AddRange(_members.Values.OrderBy(m => m.RaftId));
        }

        metadata.Removed.AddRange(_removed.Order());
        var serialize = _app.CaptureSnapshot();
        _ = Task.Run(async () =>
        {
            try
            {
                var snapshot = new RaftSnapshot { Metadata = metadata, Data = ByteString.CopyFrom(serialize()) };
                await _snapshots.SaveAsync(snapshot, _stopping.Token).ConfigureAwait(false);
                Post(() => _snapshotTaken = snapshot);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogSnapshotFailed(_logger, applied, e);
                Post(() => _snapshotInProgress = false);
            }
        });
    }

    private async ValueTask CompleteSnapshotAsync(RaftSnapshot snapshot)
    {
        var index = snapshot.Metadata.Index;
        _snapshotInProgress = false;
        if (index <= _lastSnapshotIndex)
        {
            return;
        }

        _lastSnapshotIndex = index;
        var compactTo = index > _options.LogEntriesForSlowFollowers ? index - _options.LogEntriesForSlowFollowers : 0;
        await _wal.SaveSnapshotMarkerAsync(snapshot.Metadata, replacesLog: false, _stopping.Token).ConfigureAwait(false);
        _core.SetSnapshot(snapshot, compactTo);
        _wal.ReleaseTo(compactTo);
        LogSnapshotTaken(_logger, index, snapshot.Data.Length);
    }

    private void FailProposalsUpTo(ulong index)
    {
        foreach (var key in _proposals.Keys.Where(k => k <= index).ToList())
        {
            _proposals.Remove(key, out var pending);
            pending!.Completion.TrySetException(new LeadershipLostException($"entry {key} was superseded by a snapshot from the leader"));
        }
    }

    private void FailAll(Exception error)
    {
        foreach (var pending in _proposals.Values)
        {
            pending.Completion.TrySetException(error);
        }

        _proposals.Clear();
        foreach (var read in _reads.Values.Concat(_readsWaitingForApply))
        {
            read.Completion.TrySetException(error);
        }

        _reads.Clear();
        _readsWaitingForApply.Clear();
    }

    // ------------------------------------------------------------------------------------------------------------
    // Membership

    private void SetMembership(RaftSnapshotMetadata metadata)
    {
        lock (_members)
        {
            _members.Clear();
            foreach (var member in metadata.Members)
            {
                _members[member.RaftId] = member;
            }
        }

        foreach (var removed in metadata.Removed)
        {
            _removed.Add(removed);
        }

        SyncPeers();
    }

    private void ApplyMembership(RaftConfChange change)
    {
        lock (_members)
        {
            switch (change.Type)
            {
                case RaftConfChangeType.RaftConfChangeAddVoter:
                case RaftConfChangeType.RaftConfChangeUpdate:
                    _members[change.Member.RaftId] = change.Member;
                    break;
                case RaftConfChangeType.RaftConfChangeRemoveVoter:
                    _members.Remove(change.Member.RaftId);
                    _removed.Add(change.Member.RaftId);
                    break;
                default:
                    break;
            }
        }

        LogMembership(_logger, change.Type, change.Member.RaftId, change.Member.Addr);
        SyncPeers();
    }

    private void SyncPeers()
    {
        if (_transport is null)
        {
            return;
        }

        List<RaftMember> members;
        lock (_members)
        {
            members = [.. _members.Values];
        }

        foreach (var member in members)
        {
            if (member.RaftId != Id && member.Addr.Length > 0)
            {
                _transport.SetPeer(member.RaftId, member.Addr);
            }
        }

        foreach (var removed in _removed)
        {
            _ = _transport.RemovePeerAsync(removed).AsTask();
        }
    }

    // ------------------------------------------------------------------------------------------------------------

    /// <summary>Stops the member: the loop ends, pending requests fail, files are closed.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _commands.Writer.TryComplete();
        try
        {
            await Task.WhenAll(_loop, _ticker).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or IOException || _failure is not null)
        {
            // A member that stopped on its own logged why when it did.
        }

        FailAll(new LeadershipLostException("the Raft member was stopped"));
        Halt(StoppedError());
        if (_transport is not null)
        {
            await _transport.DisposeAsync().ConfigureAwait(false);
        }

        await _wal.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private sealed class PendingProposal(Action<ulong>? onApplied)
    {
        public Action<ulong>? OnApplied { get; } = onApplied;

        public ulong Term { get; set; }

        public TaskCompletionSource<ulong> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class PendingRead(ByteString context)
    {
        public ByteString Context { get; } = context;

        public ulong Index { get; set; }

        public TaskCompletionSource<ulong> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Founded a new Raft group as member {RaftId:x}")]
    private static partial void LogBootstrapped(ILogger logger, ulong raftId);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Raft member {RaftId:x} started ({Entries} entries recovered, term {Term}, commit {Commit})")]
    private static partial void LogStarted(ILogger logger, ulong raftId, int entries, ulong term, ulong commit);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "Leader is now {Leader:x} in term {Term}; this member leads: {Leading}")]
    private static partial void LogLeadership(ILogger logger, ulong leader, ulong term, bool leading);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Information, Message = "Membership change applied: {Type} {RaftId:x} ({Address})")]
    private static partial void LogMembership(ILogger logger, RaftConfChangeType type, ulong raftId, string address);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Information, Message = "Snapshot taken at {Index} ({Bytes} bytes)")]
    private static partial void LogSnapshotTaken(ILogger logger, ulong index, int bytes);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Information, Message = "Installed the leader's snapshot at {Index} ({Bytes} bytes)")]
    private static partial void LogSnapshotInstalled(ILogger logger, ulong index, int bytes);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Error, Message = "Taking a snapshot at {Index} failed")]
    private static partial void LogSnapshotFailed(ILogger logger, ulong index, Exception error);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Critical, Message = "The Raft loop failed; the member stops")]
    private static partial void LogLoopFailed(ILogger logger, Exception error);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Warning, Message = "Raft step slow: persisting {Entries} entries ({Bytes} bytes) took {PersistMs:0} ms, applying {Committed} took {ApplyMs:0} ms; heartbeats wait meanwhile (a slow disk or an overloaded host can cost the leadership)")]
    private static partial void LogSlowReady(ILogger logger, double persistMs, int entries, long bytes, double applyMs, int committed);

    [LoggerMessage(EventId = 4009, Level = LogLevel.Warning, Message = "Dropped a Raft message from node {Caller} claiming Raft ID {RaftId:x}, which belongs to another node")]
    private static partial void LogImpersonation(ILogger logger, string caller, ulong raftId);
}

/// <summary>A member's Raft state at one moment.</summary>
public sealed record RaftStatus(
    ulong Id, ulong Term, ulong Lead, RaftRole Role, ulong Committed, ulong Applied, ulong LastIndex, ulong FirstIndex,
    IReadOnlyDictionary<ulong, (ulong Match, ProgressState State)> Progress);
