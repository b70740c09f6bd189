-- Argo CD health check for stateless.dev/v1alpha1 StatelessService (kstatus conditions Ready/Reconciling/Stalled).
-- Written for Lua 5.1 (Argo CD's gopher-lua) and runs unchanged on Lua 5.4 (the tests).
local hs = {}

-- Generations come from JSON and may be floats; print them as whole numbers.
local function num(n)
  return tostring(math.floor(n))
end

local function condition(status, ctype)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

-- A condition written for an older generation says nothing about the current spec.
local function current(c, generation)
  return c ~= nil and (c.observedGeneration == nil or generation == nil or c.observedGeneration == generation)
end

local function describe(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.type .. ": " .. c.reason
  end
  return fallback
end

local generation = obj.metadata and obj.metadata.generation
local status = obj.status

-- 1. The operator has not yet acted on the latest spec: nothing in status can be trusted yet.
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  if generation ~= nil then
    hs.message = "Waiting for the operator to observe generation " .. num(generation)
  else
    hs.message = "Waiting for the operator to report status"
  end
  return hs
end
if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. num(generation)
    .. " (last observed " .. num(status.observedGeneration) .. ")"
  return hs
end

-- 2. Paused on purpose: neither healthy nor broken.
local reconciling = condition(status, "Reconciling")
local pausedByCondition = current(reconciling, generation) and reconciling.status == "False" and reconciling.reason == "Paused"
if (obj.spec ~= nil and obj.spec.paused == true) or pausedByCondition then
  hs.status = "Suspended"
  hs.message = describe(pausedByCondition and reconciling or nil, "Reconciliation is paused (spec.paused: true)")
  return hs
end

-- 3. The operator gave up until something changes (bad spec, conflict, quota...).
local stalled = condition(status, "Stalled")
if current(stalled, generation) and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

-- 4. All children exist and the Deployment is available.
local ready = condition(status, "Ready")
if current(ready, generation) and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "StatelessService is ready")
  return hs
end

-- 5. Anything else is work in progress; say what the operator is waiting for.
hs.status = "Progressing"
if current(reconciling, generation) and reconciling.status == "True" then
  hs.message = describe(reconciling, "Reconciling")
elseif ready ~= nil and not current(ready, generation) then
  hs.message = "Ready condition is from generation " .. num(ready.observedGeneration) .. "; waiting for an update"
elseif ready ~= nil then
  hs.message = describe(ready, "Not ready yet")
else
  hs.message = "Waiting for the Ready condition"
end
return hs
