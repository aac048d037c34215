"""NVR fleet (issue 11): the api-side service the agent socket calls (:mod:`.service`: register,
heartbeat, probes, the offline cascade and its alerts, the silence monitor), the debounced
fleet summary (:mod:`.summary`) and the NVR views (:mod:`.views`). Never imports the api."""
