using Shoal.Api;
using Shoal.Ca;
using Shoal.Ca.Tls;
using Shoal.Store;

namespace Shoal.Manager.Dispatcher;

public sealed partial class Dispatcher
{
    /// <summary>
    /// The state of one leadership term: sessions, TTL and grace timers, rate-limit history and write queues. It lives
    /// in the leader's memory only and is thrown away when the term ends; the next leader rebuilds it from the store.
    /// </summary>
    private sealed class Run : IDisposable
    {
        private readonly Dispatcher _owner;
        private readonly Lock _lock = new();
        private readonly Dictionary<string, NodeSession> _sessions = new(StringComparer.Ordinal);
        private readonly Dictionary<string, ITimer> _unknown = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Queue<DateTimeOffset>> _registrations = new(StringComparer.Ordinal);
        private readonly CancellationTokenSource _stopping = new();

        // The leader-change grace: when it started, its period, and when an UNKNOWN node last came back (under _lock).
        private DateTimeOffset _graceStarted;
        private TimeSpan _gracePeriod;
        private DateTimeOffset _lastReturn = DateTimeOffset.MinValue;
        private bool _graceExtended;

        public Run(Dispatcher owner)
        {
            _owner = owner;
            var options = owner._options;
            Nodes = new WriteQueue<string, NodeWrite>(WriteNodesAsync, (_, next) => next, options.NodeWriteInterval, options.MaxBatchItems, owner._time);
            Statuses = new WriteQueue<string, TaskStatusWrite>(WriteStatusesAsync, MergeStatus, options.TaskStatusInterval, options.MaxBatchItems, owner._time);
        }

        public WriteQueue<string, NodeWrite> Nodes { get; }

        public WriteQueue<string, TaskStatusWrite> Statuses { get; }

        public int UnknownCount { get; private set; }

        public int NodeWriteBatches { get; private set; }

        public int SessionCount
        {
            get
            {
                lock (_lock)
                {
                    return _sessions.Count;
                }
            }
        }

        public TimeSpan Period(ReadTransaction view)
        {
            var configured = ClusterSecurity.FindCluster(view)?.Spec?.Dispatcher?.HeartbeatPeriod;
            var period = configured is null ? TimeSpan.Zero : configured.ToTimeSpan();
            return period > TimeSpan.Zero ? period : _owner._options.DefaultHeartbeatPeriod;
        }

        /// <summary>Every node not DOWN becomes UNKNOWN, in batches, with a grace timer to register again.</summary>
        public async Task MarkNodesUnknownAsync(CancellationToken cancellationToken)
        {
            var view = _owner._store.View();
            var grace = Period(view) * _owner._options.LeaderChangeGraceMultiplier;
            var ids = new List<string>();
            await _owner._store.BatchAsync(async batch =>
            {
                foreach (var node in view.Nodes.All())
                {
                    if (node.Status?.State == NodeState.Down)
                    {
                        continue;
                    }

                    ids.Add(node.Id);
                    await batch.UpdateAsync(tx =>
                    {
                        var current = tx.Nodes.Get(node.Id);
                        if (current is null || current.Status?.State == NodeState.Down
                            || (current.Status?.State == NodeState.Unknown && current.Status.Message == UnknownAfterLeaderChange))
                        {
                            return;
                        }

                        var copy = current.Clone();
                        copy.Status = new NodeStatus { State = NodeState.Unknown, Message = UnknownAfterLeaderChange, Addr = current.Status?.Addr ?? string.Empty };
                        tx.Update(copy);
                    });
                }
            }, cancellationToken);

            lock (_lock)
            {
                _graceStarted = _owner._time.GetUtcNow();
                _gracePeriod = Period(view);
                foreach (var id in ids)
                {
                    _unknown[id] = _owner._time.CreateTimer(static state => ((GraceEnd)state!).Fire(), new GraceEnd(this, id), grace, Timeout.InfiniteTimeSpan);
                }

                UnknownCount = ids.Count;
            }
        }

        public Task StartWritersAsync() => Task.WhenAll(
            Task.Run(() => Nodes.RunAsync(_stopping.Token)),
            Task.Run(() => Statuses.RunAsync(_stopping.Token)));

        public async Task<NodeSession> RegisterAsync(PeerIdentity caller, string peerAddress, string? certificatePem, SessionRequest request, CancellationToken cancellationToken)
        {
            var options = _owner._options;
            var nodeId = caller.NodeId;
            var now = _owner._time.GetUtcNow();
            var period = Period(_owner._store.View());
            var session = new NodeSession(nodeId, NewSessionId());
            NodeSession? previous;
            lock (_lock)
            {
                if (_stopping.IsCancellationRequested)
                {
                    throw new DispatcherException(DispatcherErrorKind.NotRunning, NotRunningMessage);
                }

                if (!_registrations.TryGetValue(nodeId, out var history))
                {
                    _registrations[nodeId] = history = new Queue<DateTimeOffset>();
                }

                while (history.Count > 0 && now - history.Peek() >= options.RegistrationWindow)
                {
                    history.Dequeue();
                }

                if (history.Count >= options.MaxRegistrations)
                {
                    LogRateLimited(_owner._logger, nodeId, history.Count, options.RegistrationWindow.TotalSeconds);
                    throw new DispatcherException(DispatcherErrorKind.RateLimited, $"node {nodeId} registered too often; wait before registering again");
                }

                history.Enqueue(now);
                _sessions.TryGetValue(nodeId, out previous);
                _sessions[nodeId] = session;
                if (_unknown.Remove(nodeId, out var grace))
                {
                    grace.Dispose();
                    _lastReturn = now;
                }

                session.Ttl = _owner._time.CreateTimer(static state => ((Expiry)state!).Fire(), new Expiry(this, session), period * options.HeartbeatGraceMultiplier, Timeout.InfiniteTimeSpan);
            }

            previous?.End(new DispatcherException(DispatcherErrorKind.SessionNotFound, $"session {previous.Id} of node {nodeId} was replaced by a newer session"));
            LogRegistered(_owner._logger, nodeId, session.Id, peerAddress, request.PreviousSessionId);
            try
            {
                await Nodes.EnqueueAsync(nodeId, new NodeWrite(
                    nodeId, NodeState.Ready, string.Empty, peerAddress, request.Description, caller.Role, certificatePem)).WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                session.End(new DispatcherException(DispatcherErrorKind.NotRunning, NotRunningMessage));
                throw session.EndError();
            }

            if (session.Ended.IsCancellationRequested)
            {
                throw session.EndError();
            }

            return session;
        }

        public NodeSession Find(string nodeId, string sessionId)
        {
            lock (_lock)
            {
                if (_sessions.TryGetValue(nodeId, out var session) && session.Id == sessionId)
                {
                    return session;
                }
            }

            throw new DispatcherException(DispatcherErrorKind.SessionNotFound, $"node {nodeId} has no session {sessionId} on this dispatcher; register again");
        }

        public async Task StopAsync(Task writers)
        {
            List<NodeSession> sessions;
            lock (_lock)
            {
                _stopping.Cancel();
                sessions = [.. _sessions.Values];
                _sessions.Clear();
                foreach (var timer in _unknown.Values)
                {
                    timer.Dispose();
                }

                _unknown.Clear();
            }

            foreach (var session in sessions)
            {
                session.End(new DispatcherException(DispatcherErrorKind.NotRunning, NotRunningMessage));
            }

            await writers;
        }

        public void Dispose()
        {
            lock (_lock)
            {
                foreach (var session in _sessions.Values)
                {
                    session.Dispose();
                }

                foreach (var timer in _unknown.Values)
                {
                    timer.Dispose();
                }
            }

            _stopping.Dispose();
            Nodes.Dispose();
            Statuses.Dispose();
        }

        private void Expire(NodeSession session)
        {
            lock (_lock)
            {
                if (_stopping.IsCancellationRequested || !_sessions.TryGetValue(session.NodeId, out var current) || !ReferenceEquals(current, session))
                {
                    return;
                }

                // During a re-registration storm heartbeats queue behind registrations on this manager as well:
                // a session opened in it gets the same stretch as the nodes still UNKNOWN.
                if (StillComingBack() is { } next)
                {
                    session.Touch(next);
                    return;
                }

                _sessions.Remove(session.NodeId);
            }

            LogHeartbeatMissed(_owner._logger, session.NodeId, session.Id);
            session.End(new DispatcherException(DispatcherErrorKind.SessionNotFound, $"session {session.Id} of node {session.NodeId} expired: no heartbeat in time"));
            _ = Nodes.EnqueueAsync(session.NodeId, new NodeWrite(session.NodeId, NodeState.Down, HeartbeatFailure));
        }

        /// <summary>
        /// While nodes UNKNOWN since the leader change are still coming back (one did within the last period) and the
        /// longest grace is not over: how long to wait before looking again. Null once the storm is over. Under _lock.
        /// </summary>
        private TimeSpan? StillComingBack()
        {
            var now = _owner._time.GetUtcNow();
            var longest = _graceStarted + _gracePeriod * _owner._options.LeaderChangeMaxGraceMultiplier;
            if (now - _lastReturn >= _gracePeriod || now >= longest)
            {
                return null;
            }

            if (!_graceExtended)
            {
                _graceExtended = true;
                LogGraceExtended(_owner._logger, (now - _graceStarted).TotalSeconds, _unknown.Count, (longest - _graceStarted).TotalSeconds);
            }

            return longest - now < _gracePeriod ? longest - now : _gracePeriod;
        }

        private void GraceOver(string nodeId)
        {
            lock (_lock)
            {
                if (_stopping.IsCancellationRequested || !_unknown.TryGetValue(nodeId, out var timer))
                {
                    return;
                }

                // Others are still coming back (a re-registration storm drains slower than the grace): wait a period
                // more, up to the longest grace, rather than mark DOWN a node that may only be queued behind them.
                if (StillComingBack() is { } next)
                {
                    timer.Change(next, Timeout.InfiniteTimeSpan);
                    return;
                }

                _unknown.Remove(nodeId);
                timer.Dispose();
            }

            LogGraceOver(_owner._logger, nodeId);
            _ = Nodes.EnqueueAsync(nodeId, new NodeWrite(nodeId, NodeState.Down, DownAfterLeaderChange));
        }

        private async Task WriteNodesAsync(IReadOnlyList<NodeWrite> writes, CancellationToken cancellationToken)
        {
            var commits = await _owner._store.BatchAsync(async batch =>
            {
                foreach (var write in writes)
                {
                    await batch.UpdateAsync(tx => ApplyNodeWrite(tx, write));
                }
            }, cancellationToken);
            NodeWriteBatches += commits;
            LogNodeWrites(_owner._logger, writes.Count, commits);
        }

        private static void ApplyNodeWrite(WriteTransaction tx, NodeWrite write)
        {
            var node = tx.Nodes.Get(write.NodeId);
            if (node is null)
            {
                if (write.CreateAs is not { } role)
                {
                    return;
                }

                // The CA server creates the node at join; a node certified otherwise (restored from a backup) is
                // recorded on its first registration.
                node = ClusterSecurity.NewNode(write.NodeId, role, write.CertificatePem ?? string.Empty, []);
                node.Description = write.Description;
                node.Status = new NodeStatus { State = write.State, Message = write.Message, Addr = write.Addr ?? string.Empty };
                tx.Create(node);
                return;
            }

            var status = new NodeStatus { State = write.State, Message = write.Message, Addr = write.Addr ?? node.Status?.Addr ?? string.Empty };
            if (status.Equals(node.Status) && (write.Description is null || write.Description.Equals(node.Description)))
            {
                return;
            }

            var copy = node.Clone();
            copy.Status = status;
            if (write.Description is not null)
            {
                copy.Description = write.Description;
            }

            tx.Update(copy);
        }

        private async Task WriteStatusesAsync(IReadOnlyList<TaskStatusWrite> writes, CancellationToken cancellationToken)
        {
            var now = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(_owner._time.GetUtcNow());
            var applied = 0;
            var commits = await _owner._store.BatchAsync(async batch =>
            {
                foreach (var write in writes)
                {
                    await batch.UpdateAsync(tx =>
                    {
                        var task = tx.Tasks.Get(write.TaskId);
                        if (task is null || task.NodeId != write.Reporter || !Advances(task.Status, write.Status))
                        {
                            return;
                        }

                        var copy = task.Clone();
                        copy.Status = write.Status.Clone();
                        copy.Status.AppliedBy = write.Reporter;
                        copy.Status.AppliedAt = now;
                        tx.Update(copy);
                        applied++;
                    });
                }
            }, cancellationToken);
            LogStatusWrites(_owner._logger, writes.Count, applied, commits);
        }

        /// <summary>
        /// Whether a reported status may replace the stored one: states only move forward (an equal state may change
        /// its message or details), and states up to ASSIGNED belong to the managers, never to the agent.
        /// </summary>
        private static bool Advances(SwarmTaskStatus? current, SwarmTaskStatus next)
        {
            if (next.State <= TaskState.Assigned)
            {
                return false;
            }

            if (current is null || next.State > current.State)
            {
                return true;
            }

            if (next.State < current.State)
            {
                return false;
            }

            var comparable = next.Clone();
            comparable.AppliedBy = current.AppliedBy;
            comparable.AppliedAt = current.AppliedAt;
            comparable.Timestamp = current.Timestamp;
            return !comparable.Equals(current);
        }

        /// <summary>Two reports of one task waiting in the same batch: the furthest state wins, the later on a tie.</summary>
        private static TaskStatusWrite MergeStatus(TaskStatusWrite waiting, TaskStatusWrite next) =>
            next.Status.State >= waiting.Status.State ? next : waiting;

        private sealed class Expiry(Run run, NodeSession session)
        {
            public void Fire() => run.Expire(session);
        }

        private sealed class GraceEnd(Run run, string nodeId)
        {
            public void Fire() => run.GraceOver(nodeId);
        }
    }

    /// <summary>The status message of nodes marked UNKNOWN when this manager became the leader.</summary>
    public const string UnknownAfterLeaderChange = "node is unknown after leader change";

    /// <summary>The status message of nodes marked DOWN for missing heartbeats.</summary>
    public const string HeartbeatFailure = "heartbeat failure";

    /// <summary>The status message of nodes marked DOWN for not registering within the grace after a leader change.</summary>
    public const string DownAfterLeaderChange = "heartbeat failure: node did not register again after leader change";
}
