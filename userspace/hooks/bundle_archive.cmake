# cmake -DAR=ar -DOUT=libx.a -DMRI=script.mri -P bundle_archive.cmake: runs an ar MRI script
# (merging archives) from a clean slate; `ar -M` reads the script on stdin.
file(REMOVE ${OUT})
execute_process(COMMAND ${AR} -M INPUT_FILE ${MRI} RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${AR} -M ${MRI} failed: ${result}")
endif()
